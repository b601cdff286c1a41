#include "sluice/request-queue.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test-harness.h"

using sluice::kNoRequestId;
using sluice::QueuedRequest;
using sluice::RequestId;
using sluice::RequestQueue;
using sluice::StatusCode;

namespace {

QueuedRequest Request(uint32_t level, int64_t rows = 1, uintptr_t tag = 0) {
  QueuedRequest r;
  r.level = level;
  r.rows = rows;
  r.arrival_ns = static_cast<int64_t>(tag);
  r.payload = reinterpret_cast<void*>(tag);
  return r;
}

RequestId MustPush(RequestQueue* q, const QueuedRequest& r) {
  RequestId id = kNoRequestId;
  const sluice::Status s = q->Push(r, &id);
  EXPECT_TRUE(s.ok());
  return id;
}

// Payload tags in service order.
std::vector<uintptr_t> Order(const RequestQueue& q) {
  std::vector<uintptr_t> tags;
  for (auto c = q.Begin(); !c.done(); c.Next()) {
    tags.push_back(reinterpret_cast<uintptr_t>(c.request().payload));
  }
  return tags;
}

std::string Show(const std::vector<uintptr_t>& v) {
  std::string out;
  for (uintptr_t x : v) out += std::to_string(x) + " ";
  return out;
}

}  // namespace

TEST(EmptyQueue) {
  RequestQueue q({});
  EXPECT_EQ(q.levels(), 1u);
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(q.Begin().done());
  RequestId id = 7;
  QueuedRequest out;
  EXPECT_TRUE(!q.PopFront(&id, &out));
  EXPECT_TRUE(q.Find(kNoRequestId) == nullptr);
  EXPECT_EQ(q.Remove(kNoRequestId, &out).code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(q.Delay(12345).code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(q.level_size(0), 0u);
  EXPECT_EQ(q.level_size(9), 0u);
}

TEST(FifoWithinLevelAndLevelsInOrder) {
  RequestQueue q({0, 0, 0});
  MustPush(&q, Request(2, 1, 1));
  MustPush(&q, Request(0, 1, 2));
  MustPush(&q, Request(1, 1, 3));
  MustPush(&q, Request(0, 1, 4));
  MustPush(&q, Request(2, 1, 5));
  EXPECT_EQ(Show(Order(q)), std::string("2 4 3 1 5 "));
  std::vector<uintptr_t> popped;
  RequestId id;
  QueuedRequest out;
  while (q.PopFront(&id, &out)) popped.push_back(reinterpret_cast<uintptr_t>(out.payload));
  EXPECT_EQ(Show(popped), std::string("2 4 3 1 5 "));
  EXPECT_TRUE(q.empty());
}

TEST(RejectsBadLevelAndRows) {
  RequestQueue q({0, 0});
  RequestId id = kNoRequestId;
  EXPECT_EQ(q.Push(Request(2), &id).code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(q.Push(Request(0, 0), &id).code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(q.Push(Request(0, -3), &id).code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(q.empty());
}

TEST(FullLevelRejectsAtOnce) {
  RequestQueue q({2, 1});
  MustPush(&q, Request(0, 1, 1));
  const RequestId second = MustPush(&q, Request(0, 1, 2));
  RequestId id = kNoRequestId;
  const sluice::Status full = q.Push(Request(0, 1, 3), &id);
  EXPECT_EQ(full.code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(full.message(), std::string("Exceeds maximum queue size"));
  MustPush(&q, Request(1, 1, 4));  // other levels have their own bound
  EXPECT_EQ(q.Push(Request(1), &id).code(), StatusCode::UNAVAILABLE);
  // A delayed request still takes its place in the level.
  EXPECT_TRUE(q.Delay(second).ok());
  EXPECT_EQ(q.Push(Request(0), &id).code(), StatusCode::UNAVAILABLE);
  QueuedRequest out;
  EXPECT_TRUE(q.Remove(second, &out).ok());
  MustPush(&q, Request(0, 1, 5));
  EXPECT_EQ(q.size(), 3u);
}

TEST(StaleIdAfterSlotReuse) {
  RequestQueue q({0});
  const RequestId a = MustPush(&q, Request(0, 1, 1));
  QueuedRequest out;
  EXPECT_TRUE(q.Remove(a, &out).ok());
  const RequestId b = MustPush(&q, Request(0, 1, 2));  // reuses a's slot
  EXPECT_TRUE(a != b);
  EXPECT_TRUE(q.Find(a) == nullptr);
  EXPECT_EQ(q.Remove(a, &out).code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(q.Delay(a).code(), StatusCode::NOT_FOUND);
  ASSERT_TRUE(q.Find(b) != nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q.Find(b)->payload), uintptr_t{2});
  EXPECT_EQ(q.size(), 1u);
}

TEST(DelayMovesBehindUnexpiredOfItsLevel) {
  RequestQueue q({0, 0});
  const RequestId a = MustPush(&q, Request(0, 1, 1));
  const RequestId b = MustPush(&q, Request(0, 1, 2));
  MustPush(&q, Request(0, 1, 3));
  MustPush(&q, Request(1, 1, 4));
  EXPECT_TRUE(q.Delay(b).ok());
  EXPECT_TRUE(q.Delay(a).ok());
  EXPECT_EQ(q.Delay(a).code(), StatusCode::FAILED_PRECONDITION);
  MustPush(&q, Request(0, 1, 5));  // later arrivals still go ahead of the delayed ones
  EXPECT_EQ(Show(Order(q)), std::string("3 5 2 1 4 "));
  std::vector<bool> delayed;
  for (auto c = q.Begin(); !c.done(); c.Next()) delayed.push_back(c.delayed());
  EXPECT_TRUE((delayed == std::vector<bool>{false, false, true, true, false}));
  EXPECT_EQ(q.level_size(0), 4u);
}

TEST(CancelFromTheMiddleKeepsOrderThroughCompaction) {
  RequestQueue q({0});
  std::vector<RequestId> ids;
  for (uintptr_t i = 0; i < 1000; ++i) ids.push_back(MustPush(&q, Request(0, 1, i)));
  QueuedRequest out;
  for (size_t i = 0; i < ids.size(); i += 3) EXPECT_TRUE(q.Remove(ids[i], &out).ok());
  for (size_t i = 1; i < ids.size(); i += 3) EXPECT_TRUE(q.Remove(ids[i], &out).ok());
  std::vector<uintptr_t> expected;
  for (uintptr_t i = 2; i < 1000; i += 3) expected.push_back(i);
  EXPECT_EQ(Show(Order(q)), Show(expected));
  EXPECT_EQ(q.size(), expected.size());
}

TEST(CursorReportsIdsAndLevels) {
  RequestQueue q({0, 0});
  const RequestId a = MustPush(&q, Request(1, 3, 1));
  const RequestId b = MustPush(&q, Request(0, 2, 2));
  auto c = q.Begin();
  ASSERT_TRUE(!c.done());
  EXPECT_EQ(c.id(), b);
  EXPECT_EQ(c.level(), 0u);
  EXPECT_EQ(c.request().rows, int64_t{2});
  c.Next();
  ASSERT_TRUE(!c.done());
  EXPECT_EQ(c.id(), a);
  EXPECT_EQ(c.level(), 1u);
  c.Next();
  EXPECT_TRUE(c.done());
}

// --- randomized, against a reference model ------------------------------------------------

namespace {

// The obvious implementation: a flat vector, sorted on demand.
struct ModelEntry {
  RequestId id;
  QueuedRequest request;
  bool delayed;
  uint64_t order;  // push order while queued, delay order once delayed
};

class Model {
 public:
  explicit Model(std::vector<uint32_t> limits) : limits_(std::move(limits)) {}

  size_t LevelSize(uint32_t level) const {
    return static_cast<size_t>(
        std::count_if(entries_.begin(), entries_.end(),
                      [&](const ModelEntry& e) { return e.request.level == level; }));
  }
  bool Full(uint32_t level) const {
    return limits_[level] != 0 && LevelSize(level) >= limits_[level];
  }

  std::vector<ModelEntry> ServiceOrder() const {
    std::vector<ModelEntry> sorted = entries_;
    std::sort(sorted.begin(), sorted.end(), [](const ModelEntry& x, const ModelEntry& y) {
      if (x.request.level != y.request.level) return x.request.level < y.request.level;
      if (x.delayed != y.delayed) return !x.delayed;
      return x.order < y.order;
    });
    return sorted;
  }

  ModelEntry* Find(RequestId id) {
    for (ModelEntry& e : entries_) {
      if (e.id == id) return &e;
    }
    return nullptr;
  }

  void Push(RequestId id, const QueuedRequest& r) { entries_.push_back({id, r, false, ++clock_}); }
  void Delay(ModelEntry* e) {
    e->delayed = true;
    e->order = ++clock_;
  }
  void Erase(RequestId id) {
    entries_.erase(std::find_if(entries_.begin(), entries_.end(),
                                [&](const ModelEntry& e) { return e.id == id; }));
  }

  const std::vector<ModelEntry>& entries() const { return entries_; }

 private:
  std::vector<uint32_t> limits_;
  std::vector<ModelEntry> entries_;
  uint64_t clock_ = 0;
};

void CheckSame(const RequestQueue& q, const Model& model) {
  const std::vector<ModelEntry> expected = model.ServiceOrder();
  EXPECT_EQ(q.size(), expected.size());
  size_t i = 0;
  for (auto c = q.Begin(); !c.done(); c.Next(), ++i) {
    if (i >= expected.size()) break;
    EXPECT_EQ(c.id(), expected[i].id);
    EXPECT_EQ(c.delayed(), expected[i].delayed);
    EXPECT_EQ(c.level(), expected[i].request.level);
    EXPECT_TRUE(c.request().payload == expected[i].request.payload);
  }
  EXPECT_EQ(i, expected.size());
  for (uint32_t level = 0; level < q.levels(); ++level) {
    EXPECT_EQ(q.level_size(level), model.LevelSize(level));
  }
}

void RunRandomized(uint64_t seed, std::vector<uint32_t> limits, int ops) {
  std::mt19937_64 rng(seed);
  RequestQueue q(limits);
  Model model(limits);
  std::vector<RequestId> gone;  // ids that left the queue, to try again as stale
  const auto uniform = [&](uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
  };
  const auto levels = static_cast<uint32_t>(limits.size());
  uintptr_t next_tag = 1;
  for (int op = 0; op < ops; ++op) {
    const uint64_t dice = uniform(100);
    if (dice < 40) {  // push, sometimes to a bad level or with bad rows
      const auto level = static_cast<uint32_t>(uniform(levels + (uniform(20) == 0 ? 1 : 0)));
      const int64_t rows = uniform(30) == 0 ? 0 : static_cast<int64_t>(1 + uniform(4));
      const QueuedRequest r = Request(level, rows, next_tag++);
      RequestId id = kNoRequestId;
      const sluice::Status s = q.Push(r, &id);
      if (level >= levels || rows < 1) {
        EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
      } else if (model.Full(level)) {
        EXPECT_EQ(s.code(), StatusCode::UNAVAILABLE);
      } else {
        EXPECT_TRUE(s.ok());
        EXPECT_TRUE(model.Find(id) == nullptr);
        model.Push(id, r);
      }
    } else if (dice < 62) {  // remove (cancel / reject / batch): live, stale or garbage id
      const uint64_t pick = uniform(10);
      RequestId id = uniform(1ull << 40) + 1;
      if (pick < 7 && !model.entries().empty()) {
        id = model.entries()[uniform(model.entries().size())].id;
      } else if (pick < 9 && !gone.empty()) {
        id = gone[uniform(gone.size())];
      }
      QueuedRequest out;
      const sluice::Status s = q.Remove(id, &out);
      if (ModelEntry* e = model.Find(id)) {
        EXPECT_TRUE(s.ok());
        EXPECT_TRUE(out.payload == e->request.payload);
        EXPECT_EQ(out.rows, e->request.rows);
        model.Erase(id);
        gone.push_back(id);
      } else {
        EXPECT_EQ(s.code(), StatusCode::NOT_FOUND);
      }
    } else if (dice < 75) {  // expire under DELAY
      if (model.entries().empty()) continue;
      const RequestId id = model.entries()[uniform(model.entries().size())].id;
      ModelEntry* e = model.Find(id);
      const sluice::Status s = q.Delay(id);
      if (e->delayed) {
        EXPECT_EQ(s.code(), StatusCode::FAILED_PRECONDITION);
      } else {
        EXPECT_TRUE(s.ok());
        model.Delay(e);
      }
    } else if (dice < 92) {  // pop the front
      RequestId id = kNoRequestId;
      QueuedRequest out;
      const bool popped = q.PopFront(&id, &out);
      const std::vector<ModelEntry> expected = model.ServiceOrder();
      EXPECT_EQ(popped, !expected.empty());
      if (popped && !expected.empty()) {
        EXPECT_EQ(id, expected.front().id);
        EXPECT_TRUE(out.payload == expected.front().request.payload);
        model.Erase(id);
        gone.push_back(id);
      }
    } else {
      CheckSame(q, model);
      for (const ModelEntry& e : model.entries()) {
        const QueuedRequest* found = q.Find(e.id);
        EXPECT_TRUE(found != nullptr && found->payload == e.request.payload);
      }
    }
    if (sluice::test::Current() == sluice::test::Outcome::kFailed) {
      std::fprintf(stderr, "  seed %llu, op %d\n", static_cast<unsigned long long>(seed), op);
      return;
    }
  }
  CheckSame(q, model);
}

}  // namespace

TEST(RandomizedOneUnboundedLevel) {
  for (uint64_t seed = 1; seed <= 5; ++seed) RunRandomized(seed, {0}, 6000);
}

TEST(RandomizedThreeLevelsMixedBounds) {
  for (uint64_t seed = 11; seed <= 15; ++seed) RunRandomized(seed, {3, 0, 8}, 6000);
}

TEST(RandomizedTightBoundsManyLevels) {
  for (uint64_t seed = 21; seed <= 25; ++seed) RunRandomized(seed, {1, 2, 1, 2, 1, 0, 1}, 6000);
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
