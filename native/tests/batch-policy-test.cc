#include "sluice/batch-policy.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test-harness.h"

using sluice::BatchDecision;
using sluice::BatchPolicyConfig;
using sluice::kNoDeadline;
using sluice::kWakeNever;
using sluice::QueuedRequest;
using sluice::QueuePolicy;
using sluice::RequestId;
using sluice::RequestParams;
using sluice::RequestQueue;
using sluice::SendReason;
using sluice::StatusCode;
using sluice::TimeoutAction;

// Counts heap allocations, for the steady-state test at the end.
namespace {
size_t g_allocations = 0;
}  // namespace
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

constexpr int64_t kUs = 1000;  // ns
constexpr int64_t kMs = 1000 * kUs;

BatchPolicyConfig Config(int64_t max_batch_size, int64_t max_queue_delay_us,
                         std::vector<int64_t> preferred = {}) {
  BatchPolicyConfig c;
  c.max_batch_size = max_batch_size;
  c.max_queue_delay_us = max_queue_delay_us;
  c.preferred_batch_sizes = std::move(preferred);
  return c;
}

BatchPolicyConfig WithLevels(BatchPolicyConfig c, uint32_t levels, uint32_t default_level) {
  c.priority_levels = levels;
  c.default_priority_level = default_level;
  c.queue_policies.assign(levels, QueuePolicy());
  return c;
}

// A queue under a config, with requests named by a tag (their payload) and a fake clock that
// the test passes in explicitly.
class Bench {
 public:
  explicit Bench(BatchPolicyConfig config)
      : config_(std::move(config)), queue_(sluice::MakeRequestQueue(config_)) {
    valid_ = sluice::ValidateBatchPolicyConfig(config_).ok();
  }

  bool valid() const { return valid_; }
  RequestQueue& queue() { return queue_; }
  const BatchDecision& decision() const { return decision_; }

  // Enqueues a request tagged `tag` arriving at at_ns. Returns its id (kNoRequestId on error).
  RequestId Push(int tag, int64_t rows, int64_t at_ns, uint64_t shape_key = 0,
                 uint64_t priority = 0, int64_t timeout_us = 0) {
    RequestParams p;
    p.rows = rows;
    p.priority = priority;
    p.timeout_us = timeout_us;
    p.shape_key = shape_key;
    p.payload = reinterpret_cast<void*>(static_cast<uintptr_t>(tag));
    QueuedRequest r;
    RequestId id = sluice::kNoRequestId;
    if (!sluice::MakeQueuedRequest(config_, p, at_ns, &r).ok()) return id;
    last_push_ = queue_.Push(r, &id);
    return id;
  }
  const sluice::Status& last_push() const { return last_push_; }

  // Decides at now_ns; returns the batch's tags ("1 2 3 "), "" when waiting.
  std::string Decide(int64_t now_ns) {
    const sluice::Status s = sluice::DecideBatch(queue_, config_, now_ns, &decision_);
    EXPECT_TRUE(s.ok());
    return Tags(decision_.batch);
  }

  std::string Tags(const std::vector<RequestId>& ids) const {
    std::string out;
    for (RequestId id : ids) {
      const QueuedRequest* r = queue_.Find(id);
      out += r == nullptr ? std::string("? ") : std::to_string(Tag(*r)) + " ";
    }
    return out;
  }

  // Applies the last decision; returns the tags taken into the batch.
  std::string Apply() {
    std::vector<QueuedRequest> batch, rejected;
    const sluice::Status s = sluice::ApplyBatchDecision(decision_, &queue_, &batch, &rejected);
    EXPECT_TRUE(s.ok());
    std::string out;
    for (const QueuedRequest& r : batch) out += std::to_string(Tag(r)) + " ";
    return out;
  }

  static int Tag(const QueuedRequest& r) {
    return static_cast<int>(reinterpret_cast<uintptr_t>(r.payload));
  }

 private:
  BatchPolicyConfig config_;
  RequestQueue queue_;
  BatchDecision decision_;
  sluice::Status last_push_;
  bool valid_ = false;
};

}  // namespace

// --- waiting and the delay window ---------------------------------------------------------

TEST(EmptyQueueWaitsForAPush) {
  Bench b(Config(8, 1000));
  ASSERT_TRUE(b.valid());
  EXPECT_EQ(b.Decide(5 * kMs), std::string(""));
  EXPECT_EQ(b.decision().reason, SendReason::kNone);
  EXPECT_EQ(b.decision().wake_at_ns, kWakeNever);
  EXPECT_TRUE(b.decision().rejected.empty() && b.decision().delayed.empty());
}

TEST(HoldsUntilOldestArrivalPlusMaxQueueDelay) {
  Bench b(Config(8, 1000));
  b.Push(1, 1, 0);
  EXPECT_EQ(b.Decide(500 * kUs), std::string(""));
  EXPECT_EQ(b.decision().reason, SendReason::kNone);
  EXPECT_EQ(b.decision().wake_at_ns, 1000 * kUs);
  b.Push(2, 1, 700 * kUs);
  EXPECT_EQ(b.Decide(800 * kUs), std::string(""));
  EXPECT_EQ(b.decision().wake_at_ns, 1000 * kUs);  // still the oldest request's window
  EXPECT_EQ(b.Decide(1000 * kUs - 1), std::string(""));
  EXPECT_EQ(b.Decide(1000 * kUs), std::string("1 2 "));
  EXPECT_EQ(b.decision().reason, SendReason::kQueueDelay);
  EXPECT_EQ(b.decision().batch_rows, int64_t{2});
  EXPECT_EQ(b.decision().wake_at_ns, 1000 * kUs);  // decide again right after taking it
}

// Triton measures the window from its own poll; a request that waited before the batcher first
// looked must not wait again.
TEST(DelayWindowStartsAtArrivalNotAtPoll) {
  Bench b(Config(8, 1000));
  b.Push(1, 1, 0);
  b.Push(2, 1, 300 * kUs);
  EXPECT_EQ(b.Decide(1200 * kUs), std::string("1 2 "));  // first look, already past 0 + 1 ms
  EXPECT_EQ(b.decision().reason, SendReason::kQueueDelay);
}

TEST(ZeroMaxQueueDelaySendsAtOnce) {
  Bench b(Config(8, 0));
  b.Push(1, 1, 10 * kUs);
  EXPECT_EQ(b.Decide(10 * kUs), std::string("1 "));
  EXPECT_EQ(b.decision().reason, SendReason::kQueueDelay);
  b.Push(2, 2, 10 * kUs);
  b.Push(3, 3, 11 * kUs);  // what accumulated goes together
  EXPECT_EQ(b.Decide(12 * kUs), std::string("1 2 3 "));
  EXPECT_EQ(b.decision().batch_rows, int64_t{6});
}

// --- send-now rules ----------------------------------------------------------------------

TEST(PreferredSizeSendsAtOnce) {
  Bench b(Config(8, 10 * 1000 * 1000, {4}));
  for (int i = 1; i <= 3; ++i) b.Push(i, 1, 0);
  EXPECT_EQ(b.Decide(1 * kUs), std::string(""));
  b.Push(4, 1, 2 * kUs);
  EXPECT_EQ(b.Decide(2 * kUs), std::string("1 2 3 4 "));
  EXPECT_EQ(b.decision().reason, SendReason::kPreferredSize);
  EXPECT_EQ(b.decision().batch_rows, int64_t{4});
}

TEST(SendsLongestPreferredPrefix) {
  Bench b(Config(8, 10 * 1000 * 1000, {2, 4}));
  for (int i = 1; i <= 6; ++i) b.Push(i, 1, 0);
  EXPECT_EQ(b.Decide(1 * kUs), std::string("1 2 3 4 "));
  EXPECT_EQ(b.decision().reason, SendReason::kPreferredSize);
  EXPECT_EQ(b.Apply(), std::string("1 2 3 4 "));
  EXPECT_EQ(b.Decide(1 * kUs), std::string("5 6 "));  // 2 is preferred too
  EXPECT_EQ(b.decision().reason, SendReason::kPreferredSize);
}

// The preferred prefix is what is sent even once the delay has run out: preferred sizes exist
// because those shapes run best, and the rest follows in the next batch at once.
TEST(PreferredPrefixWinsAfterTheDelayToo) {
  Bench b(Config(8, 100, {4}));
  for (int i = 1; i <= 6; ++i) b.Push(i, 1, 0);
  EXPECT_EQ(b.Decide(1 * kMs), std::string("1 2 3 4 "));
  EXPECT_EQ(b.decision().reason, SendReason::kPreferredSize);
  b.Apply();
  EXPECT_EQ(b.Decide(1 * kMs), std::string("5 6 "));
  EXPECT_EQ(b.decision().reason, SendReason::kQueueDelay);
}

TEST(PreferredSizesCountRowsNotRequests) {
  Bench b(Config(16, 10 * 1000 * 1000, {6}));
  b.Push(1, 5, 0);
  EXPECT_EQ(b.Decide(1 * kUs), std::string(""));  // 5 rows, one request
  b.Push(2, 1, 1 * kUs);
  EXPECT_EQ(b.Decide(1 * kUs), std::string("1 2 "));
  EXPECT_EQ(b.decision().reason, SendReason::kPreferredSize);
  EXPECT_EQ(b.decision().batch_rows, int64_t{6});
}

// Past the largest preferred size no waiting can produce a preferred batch.
TEST(PassingLargestPreferredSendsAtOnce) {
  Bench b(Config(16, 10 * 1000 * 1000, {4}));
  b.Push(1, 3, 0);
  EXPECT_EQ(b.Decide(1 * kUs), std::string(""));
  b.Push(2, 3, 1 * kUs);
  EXPECT_EQ(b.Decide(1 * kUs), std::string("1 2 "));  // 6 rows: all that fits, not just 3
  EXPECT_EQ(b.decision().reason, SendReason::kLargestPreferred);
  EXPECT_EQ(b.decision().batch_rows, int64_t{6});

  Bench alone(Config(16, 10 * 1000 * 1000, {2, 4}));
  alone.Push(1, 5, 0);
  EXPECT_EQ(alone.Decide(0), std::string("1 "));
  EXPECT_EQ(alone.decision().reason, SendReason::kLargestPreferred);
}

TEST(CannotGrowPastMaxBatchSizeInRows) {
  Bench b(Config(8, 10 * 1000 * 1000));
  b.Push(1, 5, 0);
  b.Push(2, 4, 1 * kUs);  // 5 + 4 > 8: a 5-row request counts 5
  EXPECT_EQ(b.Decide(1 * kUs), std::string("1 "));
  EXPECT_EQ(b.decision().reason, SendReason::kCannotGrow);
  EXPECT_EQ(b.decision().batch_rows, int64_t{5});
  b.Apply();
  EXPECT_EQ(b.Decide(1 * kUs), std::string(""));  // 4 rows alone may still grow
  EXPECT_EQ(b.decision().wake_at_ns, 1 * kUs + 10 * 1000 * kMs);
}

TEST(ReachingMaxBatchSizeExactlySendsAtOnce) {
  Bench b(Config(8, 10 * 1000 * 1000));
  b.Push(1, 5, 0);
  b.Push(2, 2, 0);
  EXPECT_EQ(b.Decide(1 * kUs), std::string(""));  // 7 rows
  b.Push(3, 1, 1 * kUs);
  EXPECT_EQ(b.Decide(1 * kUs), std::string("1 2 3 "));  // 8 rows, nothing else queued
  EXPECT_EQ(b.decision().reason, SendReason::kCannotGrow);
  EXPECT_EQ(b.decision().batch_rows, int64_t{8});
}

TEST(MaxBatchSizeOfOneSendsEachRequestAlone) {
  Bench b(Config(1, 10 * 1000 * 1000));
  b.Push(1, 1, 0);
  b.Push(2, 1, 0);
  EXPECT_EQ(b.Decide(0), std::string("1 "));
  EXPECT_EQ(b.decision().reason, SendReason::kCannotGrow);
}

TEST(OtherShapeKeyStopsTheBatch) {
  Bench b(Config(8, 10 * 1000 * 1000));
  b.Push(1, 1, 0, /*shape_key=*/7);
  b.Push(2, 1, 0, 7);
  b.Push(3, 1, 0, 9);
  b.Push(4, 1, 0, 7);  // never skipped over to: FIFO holds
  EXPECT_EQ(b.Decide(1 * kUs), std::string("1 2 "));
  EXPECT_EQ(b.decision().reason, SendReason::kCannotGrow);
  b.Apply();
  EXPECT_EQ(b.Decide(1 * kUs), std::string("3 "));
  b.Apply();
  EXPECT_EQ(b.Decide(1 * kUs), std::string(""));  // 4 alone waits for company
}

TEST(BatchIsAFifoPrefixNeverSkipsAhead) {
  Bench b(Config(4, 10 * 1000 * 1000));
  b.Push(1, 2, 0);
  b.Push(2, 3, 0);  // does not fit beside 1
  b.Push(3, 2, 0);  // would fit, but is behind 2
  EXPECT_EQ(b.Decide(0), std::string("1 "));
}

// --- priorities --------------------------------------------------------------------------

TEST(MoreUrgentLevelFirstFifoWithinALevel) {
  Bench b(WithLevels(Config(8, 0), 3, 2));
  b.Push(1, 1, 0, 0, /*priority=*/3);
  b.Push(2, 1, 1, 0, /*priority=*/0);  // default level 2
  b.Push(3, 1, 2, 0, 1);
  b.Push(4, 1, 3, 0, 1);
  b.Push(5, 1, 4, 0, 2);
  EXPECT_EQ(b.Decide(10), std::string("3 4 2 5 1 "));
}

TEST(UrgentRequestBatchesWithOlderLessUrgentOnes) {
  Bench b(WithLevels(Config(8, 1000), 2, 2));
  b.Push(1, 1, 0, 0, 2);
  EXPECT_EQ(b.Decide(900 * kUs), std::string(""));
  b.Push(2, 1, 900 * kUs, 0, 1);
  // The window is the oldest request's, whatever its level.
  EXPECT_EQ(b.Decide(950 * kUs), std::string(""));
  EXPECT_EQ(b.decision().wake_at_ns, 1000 * kUs);
  EXPECT_EQ(b.Decide(1000 * kUs), std::string("2 1 "));
}

// --- timeouts ----------------------------------------------------------------------------

TEST(RejectedTimeoutsAreNeverBatched) {
  BatchPolicyConfig c = Config(8, 1000);
  c.queue_policies[0].default_timeout_us = 100;
  Bench b(c);
  const RequestId first = b.Push(1, 1, 0);
  b.Push(2, 1, 50 * kUs);
  EXPECT_EQ(b.Decide(80 * kUs), std::string(""));
  EXPECT_EQ(b.decision().wake_at_ns, 100 * kUs);  // the deadline comes before the window ends
  EXPECT_EQ(b.Decide(100 * kUs), std::string(""));  // deadline_ns itself is expired
  ASSERT_TRUE(b.decision().rejected.size() == 1);
  EXPECT_EQ(b.decision().rejected[0], first);
  EXPECT_EQ(b.decision().wake_at_ns, 150 * kUs);

  std::vector<QueuedRequest> batch, rejected;
  EXPECT_TRUE(sluice::ApplyBatchDecision(b.decision(), &b.queue(), &batch, &rejected).ok());
  ASSERT_TRUE(rejected.size() == 1);
  EXPECT_EQ(Bench::Tag(rejected[0]), 1);
  EXPECT_TRUE(batch.empty());
  const sluice::Status expired = sluice::RequestTimeoutExpired();
  EXPECT_EQ(expired.code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(expired.message(), std::string("Request timeout expired"));

}

TEST(ExpiredRequestStaysOutOfABatchSentAtOnce) {
  BatchPolicyConfig c = Config(8, 0);
  c.queue_policies[0].default_timeout_us = 100;
  Bench b(c);
  b.Push(1, 1, 0);
  b.Push(2, 1, 50 * kUs);
  b.Push(3, 1, 60 * kUs);
  EXPECT_EQ(b.Decide(120 * kUs), std::string("2 3 "));
  EXPECT_EQ(b.Tags(b.decision().rejected), std::string("1 "));
  EXPECT_EQ(b.Apply(), std::string("2 3 "));
  EXPECT_TRUE(b.queue().empty());
}

TEST(DelayedTimeoutsMoveBehindTheirLevel) {
  BatchPolicyConfig c = WithLevels(Config(2, 1000), 2, 1);
  c.queue_policies[0] = {TimeoutAction::kDelay, 0, /*allow_timeout_override=*/true, 0};
  Bench b(c);
  b.Push(1, 1, 0, 0, 1, /*timeout_us=*/100);
  b.Push(2, 1, 0, 0, 2);
  b.Push(3, 1, 0, 0, 1);
  EXPECT_EQ(b.Decide(100 * kUs), std::string("3 1 "));  // 1 now stands behind 3, ahead of 2
  EXPECT_EQ(b.Tags(b.decision().delayed), std::string("1 "));
  EXPECT_TRUE(b.decision().rejected.empty());
  EXPECT_EQ(b.decision().reason, SendReason::kCannotGrow);
}

TEST(DelayedRequestIsBatchedLateNotRejected) {
  BatchPolicyConfig c = Config(2, 1000);
  c.queue_policies[0] = {TimeoutAction::kDelay, 0, true, 0};
  Bench b(c);
  b.Push(1, 1, 0, 0, 0, 100);
  b.Push(2, 1, 0);
  b.Push(3, 1, 0);
  EXPECT_EQ(b.Decide(100 * kUs), std::string("2 3 "));
  EXPECT_EQ(b.Apply(), std::string("2 3 "));
  auto c0 = b.queue().Begin();
  ASSERT_TRUE(!c0.done());
  EXPECT_TRUE(c0.delayed());
  EXPECT_EQ(b.Decide(100 * kUs), std::string(""));  // it does not expire again
  EXPECT_TRUE(b.decision().delayed.empty());
  EXPECT_EQ(b.decision().wake_at_ns, 1000 * kUs);
  EXPECT_EQ(b.Decide(1000 * kUs), std::string("1 "));
}

// Triton applies a request's timeout only when a default timeout is also set.
TEST(RequestTimeoutAppliesWithNoDefault) {
  BatchPolicyConfig c = Config(8, 10 * 1000 * 1000);
  c.queue_policies[0].allow_timeout_override = true;
  Bench b(c);
  b.Push(1, 1, 0, 0, 0, /*timeout_us=*/100);
  b.Push(2, 1, 0);
  EXPECT_EQ(b.Decide(10 * kUs), std::string(""));
  EXPECT_EQ(b.decision().wake_at_ns, 100 * kUs);
  EXPECT_EQ(b.Decide(100 * kUs), std::string(""));
  EXPECT_EQ(b.Tags(b.decision().rejected), std::string("1 "));
}

TEST(OverrideOffIgnoresRequestTimeout) {
  Bench b(Config(8, 10 * 1000 * 1000));  // allow_timeout_override false by default
  b.Push(1, 1, 0, 0, 0, 100);
  EXPECT_EQ(b.Decide(5 * kMs), std::string(""));
  EXPECT_TRUE(b.decision().rejected.empty());
  EXPECT_EQ(b.decision().wake_at_ns, 10 * 1000 * kMs);
}

TEST(RequestTimeoutOnlyShortensTheDefault) {
  BatchPolicyConfig c = Config(8, 0);
  c.queue_policies[0].default_timeout_us = 200;
  c.queue_policies[0].allow_timeout_override = true;
  RequestParams p;
  QueuedRequest r;
  p.timeout_us = 500;
  EXPECT_TRUE(sluice::MakeQueuedRequest(c, p, 1000, &r).ok());
  EXPECT_EQ(r.deadline_ns, 1000 + 200 * kUs);
  p.timeout_us = 50;
  EXPECT_TRUE(sluice::MakeQueuedRequest(c, p, 1000, &r).ok());
  EXPECT_EQ(r.deadline_ns, 1000 + 50 * kUs);
  p.timeout_us = 0;
  EXPECT_TRUE(sluice::MakeQueuedRequest(c, p, 1000, &r).ok());
  EXPECT_EQ(r.deadline_ns, 1000 + 200 * kUs);
  c.queue_policies[0].allow_timeout_override = false;
  p.timeout_us = 50;
  EXPECT_TRUE(sluice::MakeQueuedRequest(c, p, 1000, &r).ok());
  EXPECT_EQ(r.deadline_ns, 1000 + 200 * kUs);
  c.queue_policies[0].default_timeout_us = 0;
  EXPECT_TRUE(sluice::MakeQueuedRequest(c, p, 1000, &r).ok());
  EXPECT_EQ(r.deadline_ns, kNoDeadline);
}

TEST(HugeDurationsSaturateInsteadOfOverflowing) {
  BatchPolicyConfig c = Config(8, INT64_MAX);
  c.queue_policies[0].default_timeout_us = INT64_MAX;
  Bench b(c);
  ASSERT_TRUE(b.valid());
  b.Push(1, 1, INT64_MAX / 2);
  EXPECT_EQ(b.queue().Find(b.queue().Begin().id())->deadline_ns, kNoDeadline);
  EXPECT_EQ(b.Decide(INT64_MAX / 2), std::string(""));
  EXPECT_EQ(b.decision().wake_at_ns, kNoDeadline);
}

// --- enqueue-time checks -----------------------------------------------------------------

TEST(MakeQueuedRequestValidatesParams) {
  const BatchPolicyConfig c = WithLevels(Config(8, 0), 3, 2);
  RequestParams p;
  QueuedRequest r;
  p.rows = 9;
  sluice::Status s = sluice::MakeQueuedRequest(c, p, 0, &r);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.message(),
            std::string("request has 9 rows; the model takes 1 to max_batch_size (8)"));
  p.rows = 0;
  EXPECT_EQ(sluice::MakeQueuedRequest(c, p, 0, &r).code(), StatusCode::INVALID_ARGUMENT);
  p.rows = 8;
  p.timeout_us = -1;
  EXPECT_EQ(sluice::MakeQueuedRequest(c, p, 0, &r).code(), StatusCode::INVALID_ARGUMENT);
  p.timeout_us = 0;
  p.priority = 4;
  EXPECT_EQ(sluice::MakeQueuedRequest(c, p, 0, &r).code(), StatusCode::INVALID_ARGUMENT);
  p.priority = 0;
  EXPECT_TRUE(sluice::MakeQueuedRequest(c, p, 0, &r).ok());
  EXPECT_EQ(r.level, 1u);  // default_priority_level 2
  p.priority = 3;
  EXPECT_TRUE(sluice::MakeQueuedRequest(c, p, 0, &r).ok());
  EXPECT_EQ(r.level, 2u);

  const BatchPolicyConfig flat = Config(8, 0);  // no priority levels: any priority is ignored
  p.priority = 7;
  EXPECT_TRUE(sluice::MakeQueuedRequest(flat, p, 0, &r).ok());
  EXPECT_EQ(r.level, 0u);
}

TEST(FullQueueRejectsAtEnqueue) {
  BatchPolicyConfig c = Config(8, 1000);
  c.queue_policies[0].max_queue_size = 2;
  Bench b(c);
  b.Push(1, 1, 0);
  b.Push(2, 1, 0);
  EXPECT_EQ(b.Push(3, 1, 0), sluice::kNoRequestId);
  EXPECT_EQ(b.last_push().code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(b.last_push().message(), std::string("Exceeds maximum queue size"));
}

TEST(ValidateConfigNamesTheField) {
  EXPECT_TRUE(sluice::ValidateBatchPolicyConfig(Config(8, 0, {2, 8})).ok());
  EXPECT_TRUE(sluice::ValidateBatchPolicyConfig(WithLevels(Config(8, 0), 2, 2)).ok());
  const auto code = [](const BatchPolicyConfig& c) {
    return sluice::ValidateBatchPolicyConfig(c).code();
  };
  EXPECT_EQ(code(Config(0, 0)), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(Config(8, -1)), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(Config(8, 0, {9})), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(Config(8, 0, {0})), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(WithLevels(Config(8, 0), 0, 1)), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(WithLevels(Config(8, 0), 2, 0)), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(WithLevels(Config(8, 0), 2, 3)), StatusCode::INVALID_ARGUMENT);
  BatchPolicyConfig policies = WithLevels(Config(8, 0), 2, 1);
  policies.queue_policies.pop_back();
  EXPECT_EQ(code(policies), StatusCode::INVALID_ARGUMENT);
  BatchPolicyConfig timeout = Config(8, 0);
  timeout.queue_policies[0].default_timeout_us = -5;
  EXPECT_EQ(code(timeout), StatusCode::INVALID_ARGUMENT);
  const sluice::Status s = sluice::ValidateBatchPolicyConfig(Config(8, 0, {9}));
  EXPECT_EQ(s.message(), std::string("preferred_batch_size 9 is outside 1..max_batch_size (8)"));
}

TEST(DecideRefusesAQueueOfAnotherShape) {
  RequestQueue q({0, 0});
  BatchDecision d;
  EXPECT_EQ(sluice::DecideBatch(q, Config(8, 0), 0, &d).code(), StatusCode::FAILED_PRECONDITION);
}

// --- cancellation and applying a decision ------------------------------------------------

TEST(CancelledRequestIsNotBatched) {
  Bench b(Config(8, 0));
  b.Push(1, 1, 0);
  const RequestId second = b.Push(2, 1, 0);
  b.Push(3, 1, 0);
  QueuedRequest out;
  EXPECT_TRUE(b.queue().Remove(second, &out).ok());
  EXPECT_EQ(Bench::Tag(out), 2);
  EXPECT_EQ(b.Decide(0), std::string("1 3 "));
  EXPECT_EQ(b.Apply(), std::string("1 3 "));
  EXPECT_TRUE(b.queue().empty());
}

TEST(ApplyingAStaleDecisionHandsBackWhatItTook) {
  Bench b(Config(8, 0));
  b.Push(1, 1, 0);
  const RequestId second = b.Push(2, 1, 0);
  EXPECT_EQ(b.Decide(0), std::string("1 2 "));
  QueuedRequest out;
  EXPECT_TRUE(b.queue().Remove(second, &out).ok());  // cancelled after the decision
  std::vector<QueuedRequest> batch, rejected;
  const sluice::Status s = sluice::ApplyBatchDecision(b.decision(), &b.queue(), &batch, &rejected);
  EXPECT_EQ(s.code(), StatusCode::NOT_FOUND);
  ASSERT_TRUE(batch.size() == 1);
  EXPECT_EQ(Bench::Tag(batch[0]), 1);
}

// --- randomized invariants ---------------------------------------------------------------

namespace {

// Checks one decision against what must hold whatever the rule that fired.
void CheckDecision(const RequestQueue& queue, const BatchPolicyConfig& config, int64_t now_ns,
                   const BatchDecision& d) {
  // Expiry: exactly the expired, still-queued requests, by their level's action.
  size_t expired = 0;
  for (auto c = queue.Begin(); !c.done(); c.Next()) {
    if (c.delayed() || now_ns < c.request().deadline_ns) continue;
    ++expired;
    const bool reject = config.queue_policies[c.level()].timeout_action == TimeoutAction::kReject;
    const auto& list = reject ? d.rejected : d.delayed;
    EXPECT_TRUE(std::find(list.begin(), list.end(), c.id()) != list.end());
  }
  EXPECT_EQ(d.rejected.size() + d.delayed.size(), expired);

  // The batch is the front of service order once rejections and delays are applied.
  RequestQueue after = queue;
  QueuedRequest r;
  for (RequestId id : d.rejected) EXPECT_TRUE(after.Remove(id, &r).ok());
  for (RequestId id : d.delayed) EXPECT_TRUE(after.Delay(id).ok());
  auto c = after.Begin();
  int64_t rows = 0;
  for (RequestId id : d.batch) {
    ASSERT_TRUE(!c.done());
    EXPECT_EQ(id, c.id());
    EXPECT_EQ(c.request().shape_key, queue.Find(d.batch[0])->shape_key);
    rows += c.request().rows;
    c.Next();
  }
  EXPECT_EQ(rows, d.batch_rows);
  EXPECT_TRUE(rows <= config.max_batch_size);
  EXPECT_EQ(d.batch.empty(), d.reason == SendReason::kNone);
  if (d.batch.empty()) {
    EXPECT_TRUE(d.wake_at_ns > now_ns);
    EXPECT_EQ(after.empty(), d.wake_at_ns == kWakeNever);
  } else {
    EXPECT_EQ(d.wake_at_ns, now_ns);
  }
}

void RunRandomized(uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  BatchPolicyConfig config = Config(uniform(1, 12), uniform(0, 3) * 200);
  for (int64_t n = uniform(0, 3); n > 0; --n) {
    config.preferred_batch_sizes.push_back(uniform(1, config.max_batch_size));
  }
  const auto levels = static_cast<uint32_t>(uniform(0, 3));
  config = WithLevels(config, levels, levels == 0 ? 0 : static_cast<uint32_t>(uniform(1, levels)));
  if (levels == 0) config.queue_policies.assign(1, QueuePolicy());
  for (QueuePolicy& p : config.queue_policies) {
    p.timeout_action = uniform(0, 1) == 0 ? TimeoutAction::kReject : TimeoutAction::kDelay;
    p.default_timeout_us = uniform(0, 2) * 300;
    p.allow_timeout_override = uniform(0, 1) == 1;
    p.max_queue_size = static_cast<uint32_t>(uniform(0, 20));
  }
  ASSERT_TRUE(sluice::ValidateBatchPolicyConfig(config).ok());
  RequestQueue queue = sluice::MakeRequestQueue(config);
  BatchDecision d;
  std::vector<QueuedRequest> batch, rejected;
  std::vector<RequestId> ids;
  int64_t now = 0;
  for (int op = 0; op < 3000; ++op) {
    now += uniform(0, 120) * kUs;
    const int64_t dice = uniform(0, 9);
    if (dice < 5) {
      RequestParams p;
      p.rows = uniform(1, config.max_batch_size);
      p.priority = static_cast<uint64_t>(uniform(0, levels));
      p.timeout_us = uniform(0, 3) * 150;
      p.shape_key = static_cast<uint64_t>(uniform(0, 1));
      QueuedRequest r;
      EXPECT_TRUE(sluice::MakeQueuedRequest(config, p, now, &r).ok());
      RequestId id;
      if (queue.Push(r, &id).ok()) ids.push_back(id);
    } else if (dice < 6 && !ids.empty()) {
      QueuedRequest r;
      const auto pick = static_cast<size_t>(uniform(0, static_cast<int64_t>(ids.size()) - 1));
      (void)queue.Remove(ids[pick], &r);  // NOT_FOUND once taken: cancellations race batches
    } else {
      EXPECT_TRUE(sluice::DecideBatch(queue, config, now, &d).ok());
      CheckDecision(queue, config, now, d);
      EXPECT_TRUE(sluice::ApplyBatchDecision(d, &queue, &batch, &rejected).ok());
    }
    if (sluice::test::Current() == sluice::test::Outcome::kFailed) {
      std::fprintf(stderr, "  seed %llu, op %d\n", static_cast<unsigned long long>(seed), op);
      return;
    }
  }
}

}  // namespace

TEST(RandomizedDecisionsKeepTheirInvariants) {
  for (uint64_t seed = 1; seed <= 40; ++seed) RunRandomized(seed);
}

// --- steady state ------------------------------------------------------------------------

TEST(SteadyStateDoesNotAllocate) {
  BatchPolicyConfig config = WithLevels(Config(8, 100, {4}), 2, 2);
  config.queue_policies[1].default_timeout_us = 150;
  RequestQueue queue = sluice::MakeRequestQueue(config);
  queue.Reserve(64);
  BatchDecision d;
  d.Reserve(64);
  std::vector<QueuedRequest> batch, rejected;
  batch.reserve(64);
  rejected.reserve(64);
  std::mt19937_64 rng(7);
  bool ok = true;
  int64_t now = 0;
  const size_t before = g_allocations;
  for (int i = 0; i < 5000; ++i) {
    now += static_cast<int64_t>(rng() % 60) * kUs;
    for (uint64_t n = rng() % 4; n > 0; --n) {
      RequestParams p;
      p.rows = static_cast<int64_t>(1 + rng() % 3);
      p.priority = rng() % 3;
      QueuedRequest r;
      RequestId id;
      ok = ok && sluice::MakeQueuedRequest(config, p, now, &r).ok() && queue.Push(r, &id).ok();
    }
    ok = ok && sluice::DecideBatch(queue, config, now, &d).ok() &&
         sluice::ApplyBatchDecision(d, &queue, &batch, &rejected).ok();
  }
  const size_t allocations = g_allocations - before;
  EXPECT_TRUE(ok);
  EXPECT_EQ(allocations, size_t{0});
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
