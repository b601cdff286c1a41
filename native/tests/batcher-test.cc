// Batcher behaviour case by case: a fake completion sink and manual sources (Next/Complete on
// the test thread, or a few threads). Many-thread runs: batcher-stress-test.cc.
#include "batcher-test-util.h"

using namespace batcher_test;  // NOLINT: test helpers

TEST(CreateRejectsBadConfigs) {
  auto pool = std::make_shared<CompletionPool>();
  auto sink = std::make_shared<FakeSink>(pool);
  std::shared_ptr<Batcher> b;
  BatcherConfig c = Config(0, false);
  Status s = Batcher::Create(c, sink, pool, &b);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  c = Config(4, false);
  c.has_batch_dim = false;
  s = Batcher::Create(c, sink, pool, &b);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  c = Config(4, false);
  c.input_element_sizes.push_back(4);  // no name for it
  s = Batcher::Create(c, sink, pool, &b);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  s = Batcher::Create(Config(4, false), nullptr, pool, &b);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  s = Batcher::Create(Config(4, true), sink, pool, &b);
  EXPECT_TRUE(s.ok());
}

TEST(EnqueueValidatesRequests) {
  Fixture f(Config(4, true));
  std::mt19937 rng(1);
  Request r = MakeRequest(2, 3, true, &rng);
  EXPECT_TRUE(f.Enqueue(&r, 1).ok());

  Request wrong_rows = r;
  wrong_rows.dims[0][0] = 3;
  wrong_rows.Refresh();
  Status s = f.Enqueue(&wrong_rows, 2);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.message().find("input 'x'") != std::string::npos);

  Request short_data = r;
  short_data.data[0].pop_back();
  short_data.Refresh();
  s = f.Enqueue(&short_data, 3);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);

  Request bad_bytes = r;
  bad_bytes.data[1][0] = 200;  // first element claims 200 bytes
  bad_bytes.Refresh();
  s = f.Enqueue(&bad_bytes, 4);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.message().find("input 's'") != std::string::npos);

  Request too_many = MakeRequest(5, 3, true, &rng);
  s = f.Enqueue(&too_many, 5);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);

  Request one_input = r;
  one_input.refs.pop_back();
  s = f.Enqueue(&one_input, 6);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);

  s = f.Enqueue(&r, 7, /*priority=*/3);  // priority_levels 0: ignored
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(f.batcher->Counters().queued, 2u);
}

TEST(OneBatchRoundTripWithBytes) {
  BatcherConfig c = Config(8, true);
  c.policy.max_queue_delay_us = 1000000;
  c.policy.preferred_batch_sizes = {5};
  Fixture f(c);
  std::mt19937 rng(2);
  Request a = MakeRequest(2, 3, true, &rng);
  Request b = MakeRequest(3, 3, true, &rng);
  uint64_t id_a = 0, id_b = 0;
  EXPECT_TRUE(f.Enqueue(&a, 10, 0, 0, &id_a).ok());
  EXPECT_TRUE(f.Enqueue(&b, 11, 0, 0, &id_b).ok());
  EXPECT_TRUE(id_a != id_b && id_a > 0 && id_a < (uint64_t{1} << 53));
  EXPECT_TRUE(id_a < (uint64_t{1} << 24));  // a fresh batcher's ids are small

  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_EQ(batch.rows, 5);
  EXPECT_EQ(batch.requests, 2u);
  EXPECT_EQ(batch.inputs[0].dims, (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(batch.inputs[1].dims, (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(batch.inputs[0].byte_size, a.data[0].size() + b.data[0].size());
  EXPECT_TRUE(std::memcmp(batch.inputs[1].data, a.data[1].data(), a.data[1].size()) == 0);
  EXPECT_EQ(f.batcher->Counters().executing, 2u);

  EXPECT_TRUE(EchoComplete(f.batcher.get(), batch, {100, 200, 300}).ok());
  ASSERT_TRUE(f.sink->WaitFor(2));
  EXPECT_EQ(f.sink->deliveries(), 1u);  // both requests in one call
  const Seen sa = f.sink->Get(10), sb = f.sink->Get(11);
  EXPECT_EQ(sa.outputs, a.data);
  EXPECT_EQ(sb.outputs, b.data);
  EXPECT_EQ(sa.output_dims[0], (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(sb.output_dims[1], (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(sa.batch_rows, 5);

  Status again = EchoComplete(f.batcher.get(), batch);
  EXPECT_EQ(again.code(), StatusCode::NOT_FOUND);
  const auto counters = f.batcher->Counters();
  EXPECT_EQ(counters.requests_succeeded, 2u);
  EXPECT_EQ(counters.inference_count, 5u);
  EXPECT_EQ(counters.execution_count, 1u);
  EXPECT_EQ(counters.executing, 0u);
  ASSERT_TRUE(counters.batch_stats.size() == 1);
  EXPECT_EQ(counters.batch_stats[0].batch_size, 5);
  EXPECT_EQ(counters.batch_stats[0].compute_infer_ns, 200);
  EXPECT_EQ(counters.compute_infer_ns, 400);  // per request
  EXPECT_TRUE(counters.batch_stats[0].compute_input_ns >= 100);  // plus the gather
}

TEST(DifferentRowShapesDoNotShareABatch) {
  BatcherConfig c = Config(8, false);
  c.policy.max_queue_delay_us = 0;
  Fixture f(c);
  std::mt19937 rng(3);
  Request a = MakeRequest(1, 3, false, &rng);
  Request b = MakeRequest(1, 4, false, &rng);
  EXPECT_TRUE(f.Enqueue(&a, 1).ok());
  EXPECT_TRUE(f.Enqueue(&b, 2).ok());
  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_EQ(batch.requests, 1u);
  EXPECT_EQ(batch.inputs[0].dims, (std::vector<int64_t>{1, 3}));
  EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
  EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_EQ(batch.inputs[0].dims, (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
  EXPECT_EQ(f.sink->Get(2).outputs, b.data);
}

TEST(MaxQueueDelayHoldsThenSends) {
  BatcherConfig c = Config(8, false);
  c.policy.max_queue_delay_us = 30000;  // 30 ms
  Fixture f(c);
  std::mt19937 rng(4);
  Request a = MakeRequest(1, 2, false, &rng), b = MakeRequest(2, 2, false, &rng);
  const auto start = Clock::now();
  EXPECT_TRUE(f.Enqueue(&a, 1).ok());
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE(f.Enqueue(&b, 2).ok());
  });
  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(2'000'000'000, &result, &batch).ok());
  const int64_t waited = MsSince(start);
  later.join();
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_EQ(batch.rows, 3);  // both, in one batch, sent when the first had waited 30 ms
  EXPECT_TRUE(waited >= 29);
  EXPECT_TRUE(waited < 1000);
  EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
}

TEST(PreferredSizeSendsWithoutWaiting) {
  BatcherConfig c = Config(8, false);
  c.policy.max_queue_delay_us = 10'000'000;
  c.policy.preferred_batch_sizes = {4};
  Fixture f(c);
  std::mt19937 rng(5);
  std::vector<Request> rs;
  for (int i = 0; i < 4; ++i) rs.push_back(MakeRequest(1, 2, false, &rng));
  const auto start = Clock::now();
  std::thread producer([&] {
    for (int i = 0; i < 4; ++i) {
      EXPECT_TRUE(f.Enqueue(&rs[i], i).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(5'000'000'000, &result, &batch).ok());
  producer.join();
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_EQ(batch.rows, 4);
  EXPECT_TRUE(MsSince(start) < 2000);
  EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
}

TEST(RejectedTimeoutsAreNeverExecuted) {
  BatcherConfig c = Config(4, false);
  c.policy.queue_policies[0].default_timeout_us = 2000;  // 2 ms, REJECT
  Fixture f(c);
  std::mt19937 rng(6);
  Request r = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&r, 1).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(20'000'000, &result, &batch).ok());
  EXPECT_TRUE(result == NextResult::kTimeout);  // nothing to execute
  ASSERT_TRUE(f.sink->WaitFor(1));
  const Seen s = f.sink->Get(1);
  EXPECT_EQ(s.code, StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.message, std::string("Request timeout expired"));
  EXPECT_EQ(s.batch_rows, 0);
  EXPECT_EQ(f.batcher->Counters().requests_failed, 1u);
  EXPECT_EQ(f.batcher->Counters().execution_count, 0u);
}

TEST(RejectAnsweredByASleepingSourceOnTime) {
  BatcherConfig c = Config(4, false);
  c.policy.max_queue_delay_us = 10'000'000;  // hold the batch; the timeout comes first
  c.policy.queue_policies[0].default_timeout_us = 20000;
  Fixture f(c);
  std::atomic<bool> executed{false};
  std::thread source([&] {
    TakenBatch batch;
    NextResult result;
    EXPECT_TRUE(f.batcher->Next(500'000'000, &result, &batch).ok());
    if (result == NextResult::kBatch) executed = true;
  });
  std::mt19937 rng(7);
  Request r = MakeRequest(1, 2, false, &rng);
  const auto start = Clock::now();
  EXPECT_TRUE(f.Enqueue(&r, 1).ok());
  ASSERT_TRUE(f.sink->WaitFor(1));
  const int64_t ms = MsSince(start);
  source.join();
  EXPECT_TRUE(ms >= 19 && ms < 400);
  EXPECT_TRUE(!executed);
  EXPECT_EQ(f.sink->Get(1).code, StatusCode::UNAVAILABLE);
}

// The only source holds a batch for 300 ms; a request with a 20 ms REJECT timeout queued behind
// it is answered by the expiry thread at its deadline, not when the source comes back.
TEST(ExpiryWhileEverySourceIsBusy) {
  BatcherConfig c = Config(1, false);  // one request per batch: the second cannot join the first
  c.policy.queue_policies[0].allow_timeout_override = true;
  Fixture f(c);
  std::mt19937 rng(21);
  Request occupying = MakeRequest(1, 2, false, &rng), late = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&occupying, 1).ok());
  TakenBatch held;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &held).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  const auto start = Clock::now();
  EXPECT_TRUE(f.Enqueue(&late, 2, 0, 20'000).ok());  // 20 ms, REJECT
  ASSERT_TRUE(f.sink->WaitFor(1));
  const auto answered = Clock::now();
  const int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(answered - start).count();
  std::printf("  queue timeout 20 ms answered after %lld us (%lld us past the deadline)\n",
              static_cast<long long>(us), static_cast<long long>(us - 20'000));
  EXPECT_TRUE(us >= 20'000 && us < 100'000);
  const Seen s = f.sink->Get(2);
  EXPECT_EQ(s.times, 1);
  EXPECT_EQ(s.code, StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.message, std::string("Request timeout expired"));
  EXPECT_EQ(f.sink->Get(1).times, 0);  // the occupying batch is still running
  EXPECT_EQ(f.batcher->Counters().queued, 0u);
  std::this_thread::sleep_until(start + std::chrono::milliseconds(300));
  EXPECT_TRUE(EchoComplete(f.batcher.get(), held).ok());
  ASSERT_TRUE(f.sink->WaitFor(2));
  EXPECT_TRUE(f.batcher->Next(0, &result, &held).ok());
  EXPECT_TRUE(result == NextResult::kTimeout);  // the expired request is never executed
  const sluice::BatcherCounters n = f.batcher->Counters();
  EXPECT_EQ(n.execution_count, 1u);
  EXPECT_EQ(n.requests_failed, 1u);
  EXPECT_EQ(n.requests_succeeded, 1u);
}

// DELAY: the expiry thread moves the expired request behind its level; nothing is failed and
// it runs, late, once the source comes back.
TEST(DelayedExpiryWhileEverySourceIsBusyIsNotRejected) {
  BatcherConfig c = Config(1, false);
  c.policy.queue_policies[0].default_timeout_us = 20'000;
  c.policy.queue_policies[0].timeout_action = sluice::TimeoutAction::kDelay;
  Fixture f(c);
  std::mt19937 rng(22);
  Request occupying = MakeRequest(1, 2, false, &rng), first = MakeRequest(1, 2, false, &rng),
          second = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&occupying, 1).ok());
  TakenBatch held;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &held).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_TRUE(f.Enqueue(&first, 2).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // `first` expires: delayed
  EXPECT_TRUE(f.Enqueue(&second, 3).ok());                      // fresh: runs before it
  EXPECT_EQ(f.sink->completed(), 0u);
  EXPECT_EQ(f.batcher->Counters().queued, 2u);
  EXPECT_TRUE(EchoComplete(f.batcher.get(), held).ok());
  EXPECT_TRUE(f.batcher->Next(0, &result, &held).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_TRUE(std::memcmp(held.inputs[0].data, second.data[0].data(), second.data[0].size()) ==
              0);
  EXPECT_TRUE(EchoComplete(f.batcher.get(), held).ok());
  EXPECT_TRUE(f.batcher->Next(0, &result, &held).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_TRUE(EchoComplete(f.batcher.get(), held).ok());
  ASSERT_TRUE(f.sink->WaitFor(3));
  EXPECT_EQ(f.sink->Get(2).code, StatusCode::OK);
  EXPECT_EQ(f.sink->Get(2).outputs, first.data);
  EXPECT_EQ(f.batcher->Counters().requests_failed, 0u);
}

// Close() with the expiry thread armed (a far deadline) and with it idle joins it promptly;
// the queued request is failed by Close, once.
TEST(CloseJoinsTheExpiryThread) {
  for (int armed = 0; armed < 2; ++armed) {
    BatcherConfig c = Config(1, false);
    c.policy.queue_policies[0].default_timeout_us = armed ? 60'000'000 : 1'000;
    Fixture f(c);
    std::mt19937 rng(23);
    Request r = MakeRequest(1, 2, false, &rng);
    EXPECT_TRUE(f.Enqueue(&r, 1).ok());
    if (!armed) ASSERT_TRUE(f.sink->WaitFor(1));  // expired; the thread now waits for nothing
    const auto start = Clock::now();
    f.batcher->Close();
    EXPECT_TRUE(MsSince(start) < 1000);
    ASSERT_TRUE(f.sink->WaitFor(1));
    const Seen s = f.sink->Get(1);
    EXPECT_EQ(s.times, 1);
    EXPECT_EQ(s.code, StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.message == "Request timeout expired", !armed);
    f.batcher->Close();  // idempotent
    EXPECT_EQ(f.Enqueue(&r, 2).code(), StatusCode::UNAVAILABLE);
  }
  // Destroyed without Close(), the expiry thread armed.
  BatcherConfig c = Config(1, false);
  c.policy.queue_policies[0].default_timeout_us = 60'000'000;
  Fixture f(c);
  std::mt19937 rng(24);
  Request r = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&r, 1).ok());
  f.batcher.reset();
  EXPECT_EQ(f.sink->Get(1).times, 1);
}

TEST(DelayedTimeoutsRunBehindTheOthers) {
  BatcherConfig c = Config(1, false);
  c.policy.queue_policies[0].default_timeout_us = 50'000;
  c.policy.queue_policies[0].timeout_action = sluice::TimeoutAction::kDelay;
  Fixture f(c);
  std::mt19937 rng(8);
  Request old_one = MakeRequest(1, 2, false, &rng), fresh = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&old_one, 1).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_TRUE(f.Enqueue(&fresh, 2).ok());
  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_TRUE(std::memcmp(batch.inputs[0].data, fresh.data[0].data(), fresh.data[0].size()) == 0);
  EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
  EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
  ASSERT_TRUE(result == NextResult::kBatch);  // the expired one still runs, late
  EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
  ASSERT_TRUE(f.sink->WaitFor(2));
  EXPECT_EQ(f.sink->Get(1).outputs, old_one.data);
}

TEST(PriorityLevelsServeTheMostUrgentFirst) {
  BatcherConfig c = Config(1, false);
  c.policy.priority_levels = 2;
  c.policy.default_priority_level = 2;
  c.policy.queue_policies = {sluice::QueuePolicy(), sluice::QueuePolicy()};
  Fixture f(c);
  std::mt19937 rng(9);
  Request low1 = MakeRequest(1, 2, false, &rng), low2 = MakeRequest(1, 2, false, &rng),
          high = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&low1, 1).ok());
  EXPECT_TRUE(f.Enqueue(&low2, 2, 2).ok());
  EXPECT_TRUE(f.Enqueue(&high, 3, 1).ok());
  EXPECT_EQ(f.Enqueue(&high, 4, 3).code(), StatusCode::INVALID_ARGUMENT);
  std::vector<const Request*> order;
  for (int i = 0; i < 3; ++i) {
    TakenBatch batch;
    NextResult result;
    EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
    ASSERT_TRUE(result == NextResult::kBatch);
    for (const Request* r : {&low1, &low2, &high}) {
      if (std::memcmp(batch.inputs[0].data, r->data[0].data(), r->data[0].size()) == 0) {
        order.push_back(r);
      }
    }
    EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
  }
  EXPECT_TRUE(order == (std::vector<const Request*>{&high, &low1, &low2}));
}

TEST(CancelFailsQueuedRequestsOnly) {
  Fixture f(Config(4, false));
  std::mt19937 rng(10);
  Request a = MakeRequest(1, 2, false, &rng), b = MakeRequest(1, 2, false, &rng);
  uint64_t id_a = 0, id_b = 0;
  EXPECT_TRUE(f.Enqueue(&a, 1, 0, 0, &id_a).ok());
  EXPECT_TRUE(f.batcher->Cancel(id_a));
  EXPECT_TRUE(!f.batcher->Cancel(id_a));
  EXPECT_TRUE(!f.batcher->Cancel(12345));
  ASSERT_TRUE(f.sink->WaitFor(1));
  EXPECT_EQ(f.sink->Get(1).code, StatusCode::CANCELLED);

  EXPECT_TRUE(f.Enqueue(&b, 2, 0, 0, &id_b).ok());
  EXPECT_TRUE(id_b != id_a);  // the slot is reused under a new generation
  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_EQ(batch.requests, 1u);  // the cancelled one is not in it
  EXPECT_TRUE(!f.batcher->Cancel(id_b));  // running: too late
  EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
  ASSERT_TRUE(f.sink->WaitFor(2));
  EXPECT_EQ(f.sink->Get(2).code, StatusCode::OK);
}

TEST(FullQueueRefusesAtOnce) {
  BatcherConfig c = Config(4, false);
  c.policy.queue_policies[0].max_queue_size = 2;
  Fixture f(c);
  std::mt19937 rng(11);
  Request r = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&r, 1).ok());
  EXPECT_TRUE(f.Enqueue(&r, 2).ok());
  const auto start = Clock::now();
  const Status s = f.Enqueue(&r, 3);
  EXPECT_TRUE(MsSince(start) < 50);  // no waiting (generous for a noisy machine)
  EXPECT_EQ(s.code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.message(), std::string("Exceeds maximum queue size"));
  EXPECT_EQ(f.sink->completed(), 0u);  // refused, not completed
}

TEST(CloseWakesSourcesAndFailsQueued) {
  BatcherConfig c = Config(4, false);
  c.policy.max_queue_delay_us = 10'000'000;
  c.spin_ns = 0;
  Fixture f(c);
  std::mt19937 rng(12);
  Request running = MakeRequest(4, 2, false, &rng), queued = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&running, 1).ok());
  TakenBatch held;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &held).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_TRUE(f.Enqueue(&queued, 2).ok());  // held by the 10 s delay
  std::atomic<int> closed_seen{0};
  std::vector<std::thread> sources;
  for (int i = 0; i < 3; ++i) {
    sources.emplace_back([&] {
      TakenBatch batch;
      NextResult r;
      EXPECT_TRUE(f.batcher->Next(sluice::kNoDeadline, &r, &batch).ok());
      if (r == NextResult::kClosed) ++closed_seen;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto start = Clock::now();
  f.batcher->Close();
  for (auto& t : sources) t.join();
  EXPECT_TRUE(MsSince(start) < 1000);
  EXPECT_EQ(closed_seen.load(), 3);
  ASSERT_TRUE(f.sink->WaitFor(1));
  EXPECT_EQ(f.sink->Get(2).code, StatusCode::UNAVAILABLE);
  EXPECT_EQ(f.Enqueue(&queued, 3).code(), StatusCode::UNAVAILABLE);
  EXPECT_TRUE(EchoComplete(f.batcher.get(), held).ok());  // a running batch still completes
  ASSERT_TRUE(f.sink->WaitFor(2));
  EXPECT_EQ(f.sink->Get(1).outputs, running.data);
  f.batcher->Close();  // idempotent
}

TEST(NoBatchDimAndNonDynamicRunRequestsAlone) {
  for (bool batch_dim : {false, true}) {
    BatcherConfig c = Config(batch_dim ? 8 : 1, true);
    c.has_batch_dim = batch_dim;
    c.dynamic = false;
    c.policy.max_queue_delay_us = 1'000'000;  // ignored when not dynamic
    Fixture f(c);
    std::mt19937 rng(13);
    Request a = MakeRequest(batch_dim ? 3 : 1, 2, true, &rng);
    Request b = MakeRequest(batch_dim ? 2 : 1, 2, true, &rng);
    if (!batch_dim) {  // shapes pass through untouched: no dim 0 meaning
      a.dims = {{2, 3}, {7}};
      a.data[0].resize(24);
      a.data[1].clear();
      for (int i = 0; i < 7; ++i) AppendBytesElement(&a.data[1], std::string(i, 'x'));
      a.Refresh();
    }
    EXPECT_TRUE(f.Enqueue(&a, 1).ok());
    EXPECT_TRUE(f.Enqueue(&b, 2).ok());
    for (int i = 0; i < 2; ++i) {
      TakenBatch batch;
      NextResult result;
      EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
      ASSERT_TRUE(result == NextResult::kBatch);
      EXPECT_EQ(batch.requests, 1u);
      if (i == 0) EXPECT_EQ(batch.inputs[0].dims, a.dims[0]);
      EXPECT_TRUE(EchoComplete(f.batcher.get(), batch).ok());
    }
    ASSERT_TRUE(f.sink->WaitFor(2));
    EXPECT_EQ(f.sink->Get(1).outputs, a.data);
    EXPECT_EQ(f.sink->Get(1).output_dims, a.dims);
    EXPECT_EQ(f.sink->Get(2).outputs, b.data);
  }
}

TEST(MismatchedOutputsFailTheBatch) {
  Fixture f(Config(4, false));
  std::mt19937 rng(14);
  Request a = MakeRequest(2, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&a, 1).ok());
  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  const int64_t dims[] = {3, 2};  // 3 rows for a 2-row batch
  std::vector<uint8_t> data(24);
  TensorRef out{data.data(), data.size(), dims, 2};
  const Status s = f.batcher->Complete(batch.id, &out, 1, {});
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(f.sink->WaitFor(1));
  EXPECT_EQ(f.sink->Get(1).code, StatusCode::INTERNAL);
  EXPECT_EQ(f.batcher->Fail(batch.id, sluice::Internal("x")).code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(f.batcher->Counters().requests_failed, 1u);
  EXPECT_EQ(f.batcher->Counters().executing, 0u);
}

TEST(FailDeliversTheSourcesStatus) {
  Fixture f(Config(4, false));
  std::mt19937 rng(15);
  Request a = MakeRequest(1, 2, false, &rng), b = MakeRequest(1, 2, false, &rng);
  EXPECT_TRUE(f.Enqueue(&a, 1).ok());
  EXPECT_TRUE(f.Enqueue(&b, 2).ok());
  TakenBatch batch;
  NextResult result;
  EXPECT_TRUE(f.batcher->Next(0, &result, &batch).ok());
  ASSERT_TRUE(result == NextResult::kBatch);
  EXPECT_TRUE(f.batcher->Fail(batch.id, Status(StatusCode::RESOURCE_EXHAUSTED, "oom")).ok());
  ASSERT_TRUE(f.sink->WaitFor(2));
  EXPECT_EQ(f.sink->deliveries(), 1u);
  EXPECT_EQ(f.sink->Get(2).code, StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(f.sink->Get(2).message, std::string("oom"));
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
