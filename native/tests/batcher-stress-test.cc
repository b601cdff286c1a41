// Batcher under many threads: producers, ExecutorThreads with an echo executor, random sizes,
// BYTES, priorities, timeouts, cancellations, failures and a close. Every request must get
// exactly its own rows back and complete exactly once.
#include "batcher-test-util.h"

using namespace batcher_test;  // NOLINT: test helpers

TEST(EveryRequestGetsExactlyItsOwnRows) {
  for (int64_t spin : {int64_t{0}, sluice::kDefaultSpinNs}) {
    BatcherConfig c = Config(16, true);
    c.policy.max_queue_delay_us = 200;
    c.policy.preferred_batch_sizes = {8, 16};
    c.spin_ns = spin;
    Fixture f(c);
    auto executor = std::make_shared<EchoExecutor>();
    std::unique_ptr<sluice::ExecutorThreads> threads;
    ASSERT_TRUE(sluice::ExecutorThreads::Start(f.batcher, executor, 3, &threads).ok());

    constexpr int kProducers = 4, kPerProducer = 300;
    std::vector<Request> requests(kProducers * kPerProducer);
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        std::mt19937 rng(100 + p);
        for (int i = 0; i < kPerProducer; ++i) {
          const int owner = p * kPerProducer + i;
          requests[owner] = MakeRequest(1 + rng() % 6, 2 + rng() % 2, true, &rng);
          EXPECT_TRUE(f.Enqueue(&requests[owner], owner).ok());
          if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
        }
      });
    }
    for (auto& t : producers) t.join();
    ASSERT_TRUE(f.sink->WaitFor(requests.size()));
    threads.reset();  // closes and joins

    int64_t rows = 0;
    const auto seen = f.sink->all();
    EXPECT_EQ(seen.size(), requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      const Seen& s = seen.at(i);
      EXPECT_EQ(s.times, 1);
      EXPECT_EQ(s.code, StatusCode::OK);
      EXPECT_TRUE(s.outputs == requests[i].data);
      EXPECT_TRUE(s.output_dims == requests[i].dims);
      rows += requests[i].rows;
    }
    const auto counters = f.batcher->Counters();
    EXPECT_EQ(counters.requests_succeeded, requests.size());
    EXPECT_EQ(counters.inference_count, static_cast<uint64_t>(rows));
    EXPECT_EQ(counters.execution_count, static_cast<uint64_t>(executor->batches.load()));
    EXPECT_TRUE(executor->max_rows.load() > 1);  // batches did form
    EXPECT_TRUE(executor->max_rows.load() <= 16);
    uint64_t stats_batches = 0;
    for (const auto& st : counters.batch_stats) stats_batches += st.count;
    EXPECT_EQ(stats_batches, counters.execution_count);
    EXPECT_EQ(f.sink->deliveries(), counters.execution_count);  // one delivery per batch
  }
}

// Random priorities, timeouts, cancellations, failing batches and a close in the middle: every
// accepted request completes exactly once, and the counters agree with what the sink saw.
TEST(RandomizedStressLosesNoCompletion) {
  BatcherConfig c = Config(8, true);
  c.policy.max_queue_delay_us = 100;
  c.policy.preferred_batch_sizes = {4};
  c.policy.priority_levels = 3;
  c.policy.default_priority_level = 2;
  c.policy.queue_policies.assign(3, sluice::QueuePolicy());
  c.policy.queue_policies[0].max_queue_size = 50;
  c.policy.queue_policies[1].allow_timeout_override = true;
  c.policy.queue_policies[2].allow_timeout_override = true;
  c.policy.queue_policies[2].timeout_action = sluice::TimeoutAction::kDelay;
  Fixture f(c);
  auto executor = std::make_shared<EchoExecutor>();
  executor->fail_every = 7;
  std::unique_ptr<sluice::ExecutorThreads> threads;
  ASSERT_TRUE(sluice::ExecutorThreads::Start(f.batcher, executor, 2, &threads).ok());

  constexpr int kProducers = 3, kPerProducer = 400;
  std::vector<Request> requests(kProducers * kPerProducer);
  std::vector<char> accepted(requests.size(), 0);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937 rng(200 + p);
      for (int i = 0; i < kPerProducer; ++i) {
        const int owner = p * kPerProducer + i;
        requests[owner] = MakeRequest(1 + rng() % 4, 2, rng() % 2 == 0, &rng);
        if (requests[owner].data.size() == 1) {  // the model has two inputs: add an empty BYTES one
          requests[owner].dims.push_back({requests[owner].rows, 0});
          requests[owner].data.emplace_back();
          requests[owner].Refresh();
        }
        uint64_t id = 0;
        const int64_t timeout_us = rng() % 3 == 0 ? rng() % 500 : 0;
        const Status s = f.Enqueue(&requests[owner], owner, rng() % 4, timeout_us, &id);
        accepted[owner] = s.ok();
        if (!s.ok()) EXPECT_EQ(s.code(), StatusCode::UNAVAILABLE);
        if (s.ok() && rng() % 10 == 0) (void)f.batcher->Cancel(id);
        if (owner == kPerProducer * kProducers / 2) f.batcher->Close();
        if (rng() % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      }
    });
  }
  for (auto& t : producers) t.join();
  const size_t n_accepted = std::count(accepted.begin(), accepted.end(), 1);
  ASSERT_TRUE(f.sink->WaitFor(n_accepted));
  threads.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));

  const auto seen = f.sink->all();
  EXPECT_EQ(seen.size(), n_accepted);
  size_t ok = 0, failed = 0;
  for (const auto& entry : seen) {
    EXPECT_TRUE(accepted[entry.first]);
    EXPECT_EQ(entry.second.times, 1);
    if (entry.second.code == StatusCode::OK) {
      ++ok;
      EXPECT_TRUE(entry.second.outputs == requests[entry.first].data);
    } else {
      ++failed;
    }
  }
  const auto counters = f.batcher->Counters();
  EXPECT_EQ(counters.requests_succeeded, ok);
  EXPECT_EQ(counters.requests_failed, failed);
  EXPECT_EQ(counters.queued, 0u);
  EXPECT_EQ(counters.executing, 0u);
  EXPECT_TRUE(ok > 0 && failed > 0);
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
