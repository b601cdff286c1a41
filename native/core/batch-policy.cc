#include "sluice/batch-policy.h"

#include <algorithm>
#include <string>
#include <utility>

namespace sluice {
namespace {

constexpr int64_t kNsPerUs = 1000;

// a + b for b >= 0, saturating at kNoDeadline instead of overflowing.
int64_t SaturatingAdd(int64_t a, int64_t b) { return a > kNoDeadline - b ? kNoDeadline : a + b; }

// Negative durations (only an unvalidated config has them) count as 0.
int64_t UsToNs(int64_t us) {
  if (us <= 0) return 0;
  return us > kNoDeadline / kNsPerUs ? kNoDeadline : us * kNsPerUs;
}

// Time a request may spend in the queue, in microseconds; 0 = no limit.
int64_t EffectiveTimeoutUs(const QueuePolicy& policy, int64_t request_timeout_us) {
  if (!policy.allow_timeout_override || request_timeout_us == 0) return policy.default_timeout_us;
  if (policy.default_timeout_us == 0) return request_timeout_us;
  return std::min(policy.default_timeout_us, request_timeout_us);
}

// Grows the window W (see batch-policy.h) one request at a time, in service order, writing its
// ids into `ids`, and remembers the longest prefix that totals a preferred size.
class Window {
 public:
  Window(const BatchPolicyConfig& config, std::vector<RequestId>* ids)
      : config_(config), ids_(ids) {
    for (int64_t size : config.preferred_batch_sizes) {
      largest_preferred_ = std::max(largest_preferred_, size);
    }
  }

  void Offer(RequestId id, const QueuedRequest& r) {
    if (full_) return;
    if (ids_->empty()) {
      shape_key_ = r.shape_key;
    } else if (r.shape_key != shape_key_ || r.rows > config_.max_batch_size - rows_) {
      full_ = true;
      return;
    }
    ids_->push_back(id);
    rows_ += r.rows;
    oldest_arrival_ns_ = std::min(oldest_arrival_ns_, r.arrival_ns);
    const auto& preferred = config_.preferred_batch_sizes;
    if (std::find(preferred.begin(), preferred.end(), rows_) != preferred.end()) {
      preferred_count_ = ids_->size();
      preferred_rows_ = rows_;
    }
    if (rows_ >= config_.max_batch_size) full_ = true;
  }

  bool empty() const { return ids_->empty(); }
  int64_t rows() const { return rows_; }
  int64_t oldest_arrival_ns() const { return oldest_arrival_ns_; }
  bool full() const { return full_; }  // cannot grow: at max_batch_size or blocked by the next
  int64_t largest_preferred() const { return largest_preferred_; }  // 0 without preferred sizes
  size_t preferred_count() const { return preferred_count_; }      // 0 if no prefix is preferred
  int64_t preferred_rows() const { return preferred_rows_; }

 private:
  const BatchPolicyConfig& config_;
  std::vector<RequestId>* ids_;
  uint64_t shape_key_ = 0;
  int64_t rows_ = 0;
  int64_t oldest_arrival_ns_ = kNoDeadline;
  bool full_ = false;
  int64_t largest_preferred_ = 0;
  size_t preferred_count_ = 0;
  int64_t preferred_rows_ = 0;
};

}  // namespace

uint32_t LevelCount(const BatchPolicyConfig& config) {
  return std::max<uint32_t>(1, config.priority_levels);
}

Status ValidateBatchPolicyConfig(const BatchPolicyConfig& config) {
  if (config.max_batch_size < 1) {
    return InvalidArgument("max_batch_size must be at least 1 row, got " +
                           std::to_string(config.max_batch_size));
  }
  if (config.max_queue_delay_us < 0) {
    return InvalidArgument("max_queue_delay_microseconds must not be negative, got " +
                           std::to_string(config.max_queue_delay_us));
  }
  for (int64_t size : config.preferred_batch_sizes) {
    if (size < 1 || size > config.max_batch_size) {
      return InvalidArgument("preferred_batch_size " + std::to_string(size) +
                             " is outside 1..max_batch_size (" +
                             std::to_string(config.max_batch_size) + ")");
    }
  }
  const uint32_t levels = config.priority_levels;
  const uint32_t default_level = config.default_priority_level;
  if (levels == 0 ? default_level != 0 : default_level < 1 || default_level > levels) {
    return InvalidArgument("default_priority_level " + std::to_string(default_level) +
                           (levels == 0 ? std::string(" must be 0 when priority_levels is 0")
                                        : " is outside 1..priority_levels (" +
                                              std::to_string(levels) + ")"));
  }
  if (config.queue_policies.size() != LevelCount(config)) {
    return InvalidArgument("expected one queue policy per priority level (" +
                           std::to_string(LevelCount(config)) + "), got " +
                           std::to_string(config.queue_policies.size()));
  }
  for (const QueuePolicy& policy : config.queue_policies) {
    if (policy.default_timeout_us < 0) {
      return InvalidArgument("default_timeout_microseconds must not be negative, got " +
                             std::to_string(policy.default_timeout_us));
    }
  }
  return Status::Ok();
}

RequestQueue MakeRequestQueue(const BatchPolicyConfig& config) {
  std::vector<uint32_t> limits;
  limits.reserve(config.queue_policies.size());
  for (const QueuePolicy& policy : config.queue_policies) limits.push_back(policy.max_queue_size);
  return RequestQueue(std::move(limits));
}

Status MakeQueuedRequest(const BatchPolicyConfig& config, const RequestParams& params,
                         int64_t now_ns, QueuedRequest* out) {
  if (params.rows < 1 || params.rows > config.max_batch_size) {
    return InvalidArgument("request has " + std::to_string(params.rows) +
                           " rows; the model takes 1 to max_batch_size (" +
                           std::to_string(config.max_batch_size) + ")");
  }
  if (params.timeout_us < 0) {
    return InvalidArgument("timeout must not be negative, got " +
                           std::to_string(params.timeout_us));
  }
  uint32_t level = 0;  // priority_levels 0: one level, priority ignored
  if (config.priority_levels > 0) {
    if (params.priority > config.priority_levels) {
      return InvalidArgument("priority " + std::to_string(params.priority) +
                             " is over the model's priority_levels (" +
                             std::to_string(config.priority_levels) + ")");
    }
    const uint64_t priority =
        params.priority == 0 ? config.default_priority_level : params.priority;
    level = static_cast<uint32_t>(priority - 1);
  }
  if (level >= config.queue_policies.size()) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "config has no queue policy for priority level " + std::to_string(level + 1));
  }
  const int64_t timeout_us = EffectiveTimeoutUs(config.queue_policies[level], params.timeout_us);
  out->rows = params.rows;
  out->arrival_ns = now_ns;
  out->deadline_ns = timeout_us == 0 ? kNoDeadline : SaturatingAdd(now_ns, UsToNs(timeout_us));
  out->shape_key = params.shape_key;
  out->level = level;
  out->payload = params.payload;
  return Status::Ok();
}

void BatchDecision::Reserve(size_t requests) {
  batch.reserve(requests);
  rejected.reserve(requests);
  delayed.reserve(requests);
}

void BatchDecision::Clear() {
  batch.clear();
  batch_rows = 0;
  reason = SendReason::kNone;
  rejected.clear();
  delayed.clear();
  wake_at_ns = kWakeNever;
}

Status DecideBatch(const RequestQueue& queue, const BatchPolicyConfig& config, int64_t now_ns,
                   BatchDecision* out) {
  if (queue.levels() != LevelCount(config) || config.queue_policies.size() != queue.levels()) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "the queue has " + std::to_string(queue.levels()) + " levels; the config " +
                      std::to_string(LevelCount(config)) + " and " +
                      std::to_string(config.queue_policies.size()) + " queue policies");
  }
  out->Clear();
  Window window(config, &out->batch);
  int64_t next_deadline_ns = kNoDeadline;

  // Requests that expire now under DELAY stand behind everything else in their level, so the
  // window takes them when the cursor leaves that level. out->delayed[level_delayed..] are the
  // current level's.
  uint32_t level = 0;
  size_t level_delayed = 0;
  const auto offer_level_delayed = [&] {
    for (; level_delayed < out->delayed.size(); ++level_delayed) {
      const RequestId id = out->delayed[level_delayed];
      window.Offer(id, *queue.Find(id));
    }
  };
  for (auto c = queue.Begin(); !c.done(); c.Next()) {
    if (c.level() != level) {
      offer_level_delayed();
      level = c.level();
    }
    const QueuedRequest& r = c.request();
    if (!c.delayed()) {
      if (now_ns >= r.deadline_ns) {
        const bool reject = config.queue_policies[level].timeout_action == TimeoutAction::kReject;
        (reject ? out->rejected : out->delayed).push_back(c.id());
        continue;
      }
      next_deadline_ns = std::min(next_deadline_ns, r.deadline_ns);
    }
    window.Offer(c.id(), r);
  }
  offer_level_delayed();

  if (window.empty()) return Status::Ok();  // nothing left to send or to wait for
  const int64_t delay_end_ns =
      SaturatingAdd(window.oldest_arrival_ns(), UsToNs(config.max_queue_delay_us));
  if (window.preferred_count() > 0) {
    out->reason = SendReason::kPreferredSize;
  } else if (window.largest_preferred() > 0 && window.rows() > window.largest_preferred()) {
    out->reason = SendReason::kLargestPreferred;
  } else if (window.full()) {
    out->reason = SendReason::kCannotGrow;
  } else if (now_ns >= delay_end_ns) {
    out->reason = SendReason::kQueueDelay;
  } else {
    out->batch.clear();
    out->wake_at_ns = std::min(delay_end_ns, next_deadline_ns);
    return Status::Ok();
  }
  if (window.preferred_count() > 0) {
    out->batch.resize(window.preferred_count());
    out->batch_rows = window.preferred_rows();
  } else {
    out->batch_rows = window.rows();
  }
  out->wake_at_ns = now_ns;
  return Status::Ok();
}

Status ApplyBatchDecision(const BatchDecision& decision, RequestQueue* queue,
                          std::vector<QueuedRequest>* batch, std::vector<QueuedRequest>* rejected) {
  batch->clear();
  rejected->clear();
  QueuedRequest request;
  for (RequestId id : decision.rejected) {
    RETURN_IF_ERROR(queue->Remove(id, &request));
    rejected->push_back(request);
  }
  for (RequestId id : decision.delayed) RETURN_IF_ERROR(queue->Delay(id));
  for (RequestId id : decision.batch) {
    RETURN_IF_ERROR(queue->Remove(id, &request));
    batch->push_back(request);
  }
  return Status::Ok();
}

Status RequestTimeoutExpired() { return Unavailable("Request timeout expired"); }

}  // namespace sluice
