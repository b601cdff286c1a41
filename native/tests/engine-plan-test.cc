// The memory plan: arena offsets never overlap for buffers alive together (randomized against a
// brute-force check), reuse makes a chain's arena smaller than the sum of its intermediates,
// and a simulated run over a plan never reads bytes another value has overwritten.
#include "../core/engine-plan.h"

#include <algorithm>

#include "../core/engine-arena.h"
#include "../core/op-util.h"
#include "engine-test-util.h"
#include "test-harness.h"

namespace sluice::test {
namespace {

using engine::ArenaLayout;
using engine::BufferLifetime;
using engine::Location;
using engine::Model;
using engine::Plan;

TEST(PlacedBuffersAliveTogetherNeverOverlap) {
  Rng rng(1);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = 1 + static_cast<size_t>(std::fabs(rng.Next(40.0f)));
    std::vector<BufferLifetime> buffers(n);
    for (BufferLifetime& b : buffers) {
      b.bytes = static_cast<size_t>(std::fabs(rng.Next(5000.0f)));
      b.first = static_cast<size_t>(std::fabs(rng.Next(30.0f)));
      b.last = b.first + static_cast<size_t>(std::fabs(rng.Next(10.0f)));
    }
    const ArenaLayout layout = engine::PlaceBuffers(buffers);
    bool ok = layout.offsets.size() == n;
    for (size_t i = 0; ok && i < n; ++i) {
      ok = layout.offsets[i] % engine::kArenaAlignment == 0 &&
           layout.offsets[i] + buffers[i].bytes <= layout.bytes;
      for (size_t j = i + 1; ok && j < n; ++j) {
        const BufferLifetime &a = buffers[i], &b = buffers[j];
        const bool live_together = a.first <= b.last && b.first <= a.last;
        const bool disjoint = layout.offsets[i] + a.bytes <= layout.offsets[j] ||
                              layout.offsets[j] + b.bytes <= layout.offsets[i] || a.bytes == 0 ||
                              b.bytes == 0;
        ok = !live_together || disjoint;
      }
    }
    EXPECT_TRUE(ok);
    if (!ok) return;
  }
}

TEST(ChainReusesTwoBuffers) {
  std::vector<BufferLifetime> chain;
  for (size_t i = 0; i < 10; ++i) chain.push_back({4096, i, i + 1});
  const ArenaLayout layout = engine::PlaceBuffers(chain);
  EXPECT_EQ(layout.bytes, size_t{2 * 4096});
}

Model LoadModel(const Graph& graph) {
  Model model;
  EngineOptions options;
  options.optimize = false;
  Status s = engine::LoadModel(graph, options, &model);
  if (!s.ok()) std::printf("  %s\n", s.ToString().c_str());
  return model;
}

// Simulates a run over the plan with one owner tag per arena byte: every step must read bytes
// still holding the value it expects (views read their source's bytes; an in-place step takes
// over its input's bytes). Returns false at the first clobbered read.
bool ReadsAreIntact(const Model& model, const Plan& plan) {
  std::vector<int> owner(plan.arena_bytes, -1);
  std::vector<int> tag(model.values.size(), -1);  // the value whose write a value's bytes hold
  auto bytes_of = [&](int v) {
    return static_cast<size_t>(engine::NumElements(plan.shapes[v])) *
           DTypeSize(model.values[v].dtype);
  };
  auto intact = [&](int v) {
    if (plan.locations[v].kind != Location::Kind::kArena) return true;
    for (size_t b = 0; b < bytes_of(v); ++b) {
      if (owner[plan.locations[v].at + b] != tag[v]) return false;
    }
    return true;
  };
  for (size_t s = 0; s < model.steps.size(); ++s) {
    const engine::Step& step = model.steps[s];
    for (int v : step.inputs) {
      if (v >= 0 && !intact(v)) return false;
    }
    for (size_t i = 0; i < step.outputs.size(); ++i) {
      const int out = step.outputs[i];
      if (!plan.runs[s] && i == 0) {
        tag[out] = tag[step.inputs[0]];  // a view: same bytes
        continue;
      }
      tag[out] = out;
      for (size_t b = 0; b < bytes_of(out); ++b) owner[plan.locations[out].at + b] = out;
    }
  }
  for (int v : model.output_values) {
    if (!intact(v)) return false;
  }
  return true;
}

TEST(AddChainArenaIsSmallerThanIntermediates) {
  GraphBuilder b;
  b.Input("x", {-1, 64});
  b.Floats("one", {64}, std::vector<float>(64, 1.0f));
  std::string prev = "x";
  for (int i = 0; i < 10; ++i) {
    const std::string next = "a" + std::to_string(i);
    b.Op("Add", {prev, "one"}, {next});
    prev = next;
  }
  b.Output(prev);
  const Model model = LoadModel(b.graph);
  ASSERT_TRUE(model.steps.size() == 10);
  Plan plan;
  ASSERT_TRUE(engine::BuildPlan(model, {{16, 64}}, &plan).ok());
  const size_t buffer = 16 * 64 * sizeof(float);
  EXPECT_EQ(plan.intermediate_bytes, 10 * buffer);
  EXPECT_EQ(plan.arena_bytes, 2 * buffer);  // ping-pong
  EXPECT_TRUE(ReadsAreIntact(model, plan));
}

TEST(UnaryChainRunsInPlaceAndViewsAlias) {
  GraphBuilder b;
  b.Input("x", {-1, 8});
  b.Floats("w", {8, 8}, std::vector<float>(64, 0.1f));
  b.Ints("flat", {-1});
  b.Op("MatMul", {"x", "w"}, {"m"});
  b.Op("Relu", {"m"}, {"r"});
  b.Op("Sigmoid", {"r"}, {"s"});
  b.Op("Reshape", {"s", "flat"}, {"f"});
  b.Op("Tanh", {"f"}, {"y"});
  b.Output("y");
  const Model model = LoadModel(b.graph);
  Plan plan;
  ASSERT_TRUE(engine::BuildPlan(model, {{4, 8}}, &plan).ok());
  EXPECT_EQ(plan.arena_bytes, size_t{4 * 8 * sizeof(float)});  // one buffer, written in place
  EXPECT_TRUE(!plan.runs[3]);                                  // the Reshape is a view
  EXPECT_EQ(plan.shapes[model.output_values[0]], (Shape{32}));
  EXPECT_TRUE(ReadsAreIntact(model, plan));
}

TEST(BranchyGraphReadsAreIntact) {
  // Residual branches, a view read after its source's other readers, outputs mid-graph.
  GraphBuilder b;
  b.Input("x", {-1, 16});
  b.Ints("shape", {-1, 4, 4});
  b.Ints("back", {-1, 16});
  b.Op("Relu", {"x"}, {"a"});
  b.Op("Add", {"a", "x"}, {"b"});
  b.Op("Sigmoid", {"b"}, {"c"});
  b.Op("Mul", {"c", "b"}, {"d"});
  b.Op("Reshape", {"d", "shape"}, {"e"});
  b.Op("Tanh", {"e"}, {"f"});
  b.Op("Reshape", {"f", "back"}, {"g"});
  b.Op("Add", {"g", "a"}, {"h"});
  b.Op("Relu", {"h"}, {"i"});
  b.Op("Sub", {"i", "d"}, {"y"});
  b.Output("y");
  b.Output("c");
  const Model model = LoadModel(b.graph);
  for (int64_t batch : {1, 3, 64}) {
    Plan plan;
    ASSERT_TRUE(engine::BuildPlan(model, {{batch, 16}}, &plan).ok());
    EXPECT_TRUE(ReadsAreIntact(model, plan));
    EXPECT_TRUE(plan.arena_bytes < plan.intermediate_bytes);
  }
}

}  // namespace
}  // namespace sluice::test

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
