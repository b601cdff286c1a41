// The queue side of the Batcher: creation, Enqueue, Next (decide, take, wait), Cancel, Close,
// counters and the record pools. Gathering, splitting and finishing batches: batcher-finish.cc.
#include "sluice/batcher.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <system_error>
#include <utility>

#include "batcher-internal.h"

namespace sluice {
namespace {

constexpr uint32_t kMaxElementSize = 16;
constexpr size_t kDimsPerInputReserve = 4;

Status CheckElementSizes(const std::vector<std::string>& names, const std::vector<uint32_t>& sizes,
                         const char* what) {
  if (names.size() != sizes.size()) {
    return InvalidArgument(std::string("expected one name per ") + what + " element size (" +
                           std::to_string(sizes.size()) + "), got " + std::to_string(names.size()));
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] > kMaxElementSize) {
      return InvalidArgument(std::string(what) + " '" + names[i] + "' has element size " +
                             std::to_string(sizes[i]) + "; expected 0 (BYTES) to " +
                             std::to_string(kMaxElementSize));
    }
  }
  return Status::Ok();
}

Status CheckConfig(const BatcherConfig& config) {
  RETURN_IF_ERROR(ValidateBatchPolicyConfig(config.policy));
  if (!config.has_batch_dim && config.policy.max_batch_size != 1) {
    return InvalidArgument("a model without a batch dimension takes max_batch_size 1, got " +
                           std::to_string(config.policy.max_batch_size));
  }
  if (config.input_element_sizes.empty()) return InvalidArgument("the model has no inputs");
  RETURN_IF_ERROR(CheckElementSizes(config.input_names, config.input_element_sizes, "input"));
  RETURN_IF_ERROR(CheckElementSizes(config.output_names, config.output_element_sizes, "output"));
  if (config.reserve_requests >= kMaxSlots) {
    return InvalidArgument("reserve_requests must be below " + std::to_string(kMaxSlots));
  }
  return Status::Ok();
}

// Earliest deadline among the queued requests that can still expire (a delayed one does not
// expire again); kNoDeadline if none.
int64_t EarliestDeadline(const RequestQueue& queue) {
  int64_t earliest = kNoDeadline;
  for (auto c = queue.Begin(); !c.done(); c.Next()) {
    if (!c.delayed()) earliest = std::min(earliest, c.request().deadline_ns);
  }
  return earliest;
}

}  // namespace

Status Batcher::Create(BatcherConfig config, std::shared_ptr<CompletionSink> sink,
                       std::shared_ptr<CompletionPool> pool, std::shared_ptr<Batcher>* out) {
  Status s = CheckConfig(config);
  if (!s.ok()) return InvalidArgument(config.name + ": " + s.message());
  if (sink == nullptr) return InvalidArgument(config.name + ": a completion sink is required");
  if (pool == nullptr) pool = std::make_shared<CompletionPool>();
  out->reset(new Batcher(std::move(config), std::move(sink), std::move(pool)));
  return Status::Ok();
}

Batcher::Batcher(BatcherConfig config, std::shared_ptr<CompletionSink> sink,
                 std::shared_ptr<CompletionPool> pool)
    : config_(std::move(config)),
      policy_(config_.policy),
      sink_(std::move(sink)),
      pool_(std::move(pool)),
      wait_(config_.spin_ns),
      queue_(MakeRequestQueue(config_.policy)) {
  if (!config_.dynamic) {
    // Every request gets its own shape key (Enqueue), so a window never holds two; with no
    // delay a lone request is sent at once.
    policy_.max_queue_delay_us = 0;
    policy_.preferred_batch_sizes.clear();
  }
  for (const std::string& name : config_.input_names) {
    input_labels_.push_back(config_.name + ": input '" + name + "'");
  }
  for (const std::string& name : config_.output_names) {
    output_labels_.push_back(config_.name + ": output '" + name + "'");
  }
  const size_t n = config_.reserve_requests;
  queue_.Reserve(n);
  decision_.Reserve(n);
  taken_.reserve(n);
  rejected_.reserve(n);
  records_.reserve(n);
  free_records_.reserve(n);
  for (size_t i = 0; i < n; ++i) NewRecord();
  for (size_t i = n; i > 0; --i) free_records_.push_back(static_cast<uint32_t>(i - 1));
}

Batcher::~Batcher() { Close(); }

Status Batcher::Enqueue(const EnqueueArgs& args, uint64_t* request_id) {
  const size_t n_in = config_.input_element_sizes.size();
  if (args.input_count != n_in || (n_in > 0 && args.inputs == nullptr)) {
    return InvalidArgument(config_.name + ": expected " + std::to_string(n_in) +
                           " inputs, got " + std::to_string(args.input_count));
  }
  RequestParams params;
  params.rows = args.rows;
  params.priority = args.priority;
  params.timeout_us = args.timeout_us;
  for (size_t i = 0; i < n_in; ++i) {
    const TensorRef& t = args.inputs[i];
    if (config_.has_batch_dim && (t.rank == 0 || t.dims[0] != args.rows)) {
      return InvalidArgument(input_labels_[i] + ": dim 0 must be the request's " +
                             std::to_string(args.rows) + " rows, got " +
                             (t.rank == 0 ? std::string("a scalar") : std::to_string(t.dims[0])));
    }
    RETURN_IF_ERROR(CheckTensorBytes(t, config_.input_element_sizes[i], input_labels_[i]));
    if (config_.has_batch_dim) params.shape_key = HashRowShape(params.shape_key, t.dims, t.rank);
  }

  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return Unavailable(config_.name + ": the batcher is closed");
  if (!config_.dynamic) params.shape_key = ++unbatched_key_;
  QueuedRequest queued;
  const int64_t now = MonotonicNowNs();
  Status s = MakeQueuedRequest(policy_, params, now, &queued);
  if (!s.ok()) return Status(s.code(), config_.name + ": " + s.message());
  if (queued.deadline_ns != kNoDeadline && !expiry_thread_.joinable()) {
    RETURN_IF_ERROR(StartExpiryThread());
  }
  Record* r = AllocRecord();
  if (r == nullptr) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  config_.name + ": too many requests in flight (" + std::to_string(kMaxSlots) +
                      ")");
  }
  r->owner = args.owner;
  r->rows = args.rows;
  r->arrival_ns = queued.arrival_ns;
  r->inputs.resize(n_in);
  r->dims.clear();
  for (size_t i = 0; i < n_in; ++i) {
    const TensorRef& t = args.inputs[i];
    r->inputs[i] = Record::Input{t.data, t.byte_size, r->dims.size(), t.rank};
    r->dims.insert(r->dims.end(), t.dims, t.dims + t.rank);
  }
  queued.payload = r;
  s = queue_.Push(queued, &r->queue_id);
  if (!s.ok()) {
    FreeRecord(r);
    return s;  // kQueueFullMessage stays word for word
  }
  r->state = Record::kQueued;
  *request_id = r->id();
  const bool notify = wait_.Changed(now);
  // The expiry thread sleeps until expiry_wake_ns_; an earlier deadline re-arms it.
  const bool rearm = queued.deadline_ns < expiry_wake_ns_;
  if (rearm) expiry_wake_ns_ = queued.deadline_ns;
  lock.unlock();
  if (notify) wait_.NotifyOne();
  if (rearm) expiry_cv_.notify_one();
  return Status::Ok();
}

Status Batcher::StartExpiryThread() {
  try {
    expiry_thread_ = std::thread([this] { ExpiryLoop(); });
  } catch (const std::system_error& e) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  config_.name + ": cannot start the queue timeout thread: " + e.what());
  }
  return Status::Ok();
}

void Batcher::ExpiryLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    const int64_t now = MonotonicNowNs();
    if (now >= expiry_wake_ns_) {
      // Cheap check first: a wake-up for a request that has since been taken finds nothing.
      std::unique_ptr<CompletionBatch> failed;
      bool changed = false;
      if (EarliestDeadline(queue_) <= now) {
        // Expiry only: rejections and delays, never the batch. An error here (the decision out
        // of date, which one lock rules out) leaves nothing behind: whatever was removed is in
        // `failed`, and the sources' own passes act on the rest.
        (void)TakeBatch(now, nullptr, &failed);
        changed = true;
      }
      expiry_wake_ns_ = EarliestDeadline(queue_);
      // Cannot happen (the policy expires exactly these); never spin if it somehow does.
      if (expiry_wake_ns_ <= now) expiry_wake_ns_ = now + 1'000'000;
      if (changed) {
        // Fewer requests (or a new order) can make a batch sendable for a waiting source.
        const bool notify = wait_.Changed(now);
        lock.unlock();
        if (notify) wait_.NotifyOne();
        if (failed != nullptr) sink_->Deliver(std::move(failed));
        lock.lock();
        continue;  // state may have changed while unlocked
      }
    }
    if (expiry_wake_ns_ == kNoDeadline) {
      expiry_cv_.wait(lock);
    } else {
      const std::chrono::steady_clock::time_point until{std::chrono::nanoseconds(expiry_wake_ns_)};
      expiry_cv_.wait_until(lock, until);
    }
  }
}

Status Batcher::Next(int64_t timeout_ns, NextResult* result, TakenBatch* batch) {
  const int64_t start = MonotonicNowNs();
  const int64_t deadline =
      timeout_ns >= kNoDeadline - start ? kNoDeadline : start + std::max<int64_t>(timeout_ns, 0);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (closed_) {
      *result = NextResult::kClosed;
      return Status::Ok();
    }
    const uint64_t seen = wait_.version();
    const int64_t now = MonotonicNowNs();
    Batch* taken = nullptr;
    std::unique_ptr<CompletionBatch> failed;
    const Status s = TakeBatch(now, &taken, &failed);
    if (taken != nullptr || failed != nullptr) {
      // Another source may serve what is left while this one gathers and runs its batch.
      const bool wake_another = taken != nullptr && !queue_.empty() && wait_.sleepers() > 0;
      lock.unlock();
      if (wake_another) wait_.NotifyOne();
      if (failed != nullptr) sink_->Deliver(std::move(failed));
      if (taken != nullptr) {
        const Status g = Gather(taken, batch);
        if (g.ok()) {
          *result = NextResult::kBatch;
          return Status::Ok();
        }
        (void)Finish(taken->id(), nullptr, 0, BatchTimings(), &g);
      }
      if (!s.ok()) return s;
      lock.lock();
      continue;
    }
    if (!s.ok()) return s;
    if (now >= deadline) {
      *result = NextResult::kTimeout;
      return Status::Ok();
    }
    wait_.Wait(&lock, seen, std::min(decision_.wake_at_ns, deadline));
  }
}

Status Batcher::TakeBatch(int64_t now_ns, Batch** out, std::unique_ptr<CompletionBatch>* failed) {
  RETURN_IF_ERROR(DecideBatch(queue_, policy_, now_ns, &decision_));
  if (out == nullptr) decision_.batch.clear();  // expiry only: the batch stays queued
  if (decision_.batch.empty() && decision_.rejected.empty() && decision_.delayed.empty()) {
    return Status::Ok();
  }
  // The queue has not changed since the decision (one lock), so this cannot fail; if it did,
  // what it removed is still handed back in taken_/rejected_ and is served below.
  Status s = ApplyBatchDecision(decision_, &queue_, &taken_, &rejected_);
  if (!s.ok()) s = Internal(config_.name + ": batch decision out of date: " + s.message());
  if (!rejected_.empty()) {
    *failed = pool_->Take();
    const Status expired = RequestTimeoutExpired();
    for (const QueuedRequest& q : rejected_) {
      AddFailure(static_cast<Record*>(q.payload), expired, now_ns, failed->get());
    }
  }
  if (taken_.empty()) return s;
  Batch* b = AllocBatch();
  if (b == nullptr) {
    if (*failed == nullptr) *failed = pool_->Take();
    const Status busy(StatusCode::RESOURCE_EXHAUSTED,
                      config_.name + ": too many batches in flight");
    for (const QueuedRequest& q : taken_) {
      AddFailure(static_cast<Record*>(q.payload), busy, now_ns, failed->get());
    }
    return s;
  }
  for (const QueuedRequest& q : taken_) {
    Record* r = static_cast<Record*>(q.payload);
    r->state = Record::kExecuting;
    r->queue_id = kNoRequestId;
    b->records.push_back(r);
    b->rows += r->rows;
  }
  b->taken_ns = now_ns;
  wait_.Touch(now_ns);
  counters_.executing += b->records.size();
  // Input storage: a spare block that no consumer still shares, else a new one.
  b->storage.resize(config_.input_element_sizes.size());
  for (std::shared_ptr<ByteBlock>& block : b->storage) {
    auto free_block =
        std::find_if(spare_storage_.rbegin(), spare_storage_.rend(),
                     [](const std::shared_ptr<ByteBlock>& p) { return p.use_count() == 1; });
    if (free_block != spare_storage_.rend()) {
      block = std::move(*free_block);
      spare_storage_.erase(std::next(free_block).base());
    } else {
      block = std::make_shared<ByteBlock>();
    }
  }
  *out = b;
  return s;
}

void Batcher::AddFailure(Record* r, const Status& status, int64_t now_ns, CompletionBatch* out) {
  CompletedRequest c;
  c.request_id = r->id();
  c.owner = r->owner;
  c.status = status;
  c.queue_ns = now_ns - r->arrival_ns;
  out->requests.push_back(std::move(c));
  ++counters_.requests_failed;
  FreeRecord(r);
}

bool Batcher::Cancel(uint64_t request_id) {
  std::unique_ptr<CompletionBatch> cancelled = pool_->Take();
  std::unique_lock<std::mutex> lock(mu_);
  Record* r = FindRecord(request_id, Record::kQueued);
  QueuedRequest removed;
  if (r == nullptr || !queue_.Remove(r->queue_id, &removed).ok()) {
    lock.unlock();
    pool_->Give(std::move(cancelled));
    return false;
  }
  const int64_t now = MonotonicNowNs();
  AddFailure(r, Status(StatusCode::CANCELLED, "request cancelled"), now, cancelled.get());
  const bool notify = wait_.Changed(now);  // a smaller queue can make a batch sendable
  lock.unlock();
  if (notify) wait_.NotifyOne();
  sink_->Deliver(std::move(cancelled));
  return true;
}

void Batcher::Close() {
  std::unique_ptr<CompletionBatch> failed = pool_->Take();
  std::thread expiry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      failed.reset();
    } else {
      closed_ = true;
      expiry = std::move(expiry_thread_);  // only this Close() joins it
      const Status status = Unavailable(config_.name + ": the batcher is closed");
      const int64_t now = MonotonicNowNs();
      RequestId id;
      QueuedRequest q;
      while (queue_.PopFront(&id, &q)) {
        AddFailure(static_cast<Record*>(q.payload), status, now, failed.get());
      }
      (void)wait_.Changed(now);
    }
  }
  if (failed == nullptr) return;
  wait_.NotifyAll();
  expiry_cv_.notify_all();
  if (expiry.joinable()) {
    // From the sink on the expiry thread itself: it sees closed_ and exits once Deliver returns.
    if (expiry.get_id() == std::this_thread::get_id()) {
      expiry.detach();
    } else {
      expiry.join();
    }
  }
  if (failed->requests.empty()) {
    pool_->Give(std::move(failed));
  } else {
    sink_->Deliver(std::move(failed));
  }
}

BatcherCounters Batcher::Counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  BatcherCounters out = counters_;
  out.queued = queue_.size();
  out.batch_stats.reserve(stats_.size());
  for (const auto& entry : stats_) out.batch_stats.push_back(entry.second);
  return out;
}

Batcher::Record* Batcher::AllocRecord() {
  if (!free_records_.empty()) {
    Record* r = records_[free_records_.back()].get();
    free_records_.pop_back();
    return r;
  }
  return records_.size() >= kMaxSlots ? nullptr : NewRecord();
}

Batcher::Record* Batcher::NewRecord() {
  auto r = std::make_unique<Record>();
  r->slot = static_cast<uint32_t>(records_.size());
  r->inputs.reserve(config_.input_element_sizes.size());
  r->dims.reserve(config_.input_element_sizes.size() * kDimsPerInputReserve);
  records_.push_back(std::move(r));
  return records_.back().get();
}

void Batcher::FreeRecord(Record* r) {
  r->state = Record::kFree;
  r->generation = NextGeneration(r->generation);
  r->queue_id = kNoRequestId;
  free_records_.push_back(r->slot);
}

Batcher::Record* Batcher::FindRecord(uint64_t id, int state) {
  const uint32_t slot = SlotOfId(id);
  if (slot >= records_.size()) return nullptr;
  Record* r = records_[slot].get();
  if (r->generation != GenerationOfId(id) || r->state != state) return nullptr;
  return r;
}

Batcher::Batch* Batcher::AllocBatch() {
  Batch* b;
  if (!free_batches_.empty()) {
    b = batches_[free_batches_.back()].get();
    free_batches_.pop_back();
  } else {
    if (batches_.size() >= kMaxSlots) return nullptr;
    batches_.push_back(std::make_unique<Batch>());
    b = batches_.back().get();
    b->slot = static_cast<uint32_t>(batches_.size() - 1);
  }
  b->state = Batch::kExecuting;
  b->records.clear();
  b->rows = 0;
  b->gather_ns = 0;
  return b;
}

Batcher::Batch* Batcher::FindBatch(BatchId id, int state) {
  const uint32_t slot = SlotOfId(id);
  if (slot >= batches_.size()) return nullptr;
  Batch* b = batches_[slot].get();
  if (b->generation != GenerationOfId(id) || b->state != state) return nullptr;
  return b;
}

}  // namespace sluice
