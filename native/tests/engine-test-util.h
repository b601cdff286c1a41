// Helpers for the engine tests: a terse graph builder, tensors in and out, a deterministic
// random source and comparisons.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sluice/engine.h"
#include "sluice/graph.h"

namespace sluice::test {

inline Attribute AttrInt(const char* name, int64_t v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
inline Attribute AttrFloat(const char* name, float v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
inline Attribute AttrString(const char* name, const std::string& v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kString;
  a.s = v;
  return a;
}
inline Attribute AttrInts(const char* name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

template <typename T>
TensorData MakeTensor(const std::string& name, DType dtype, Shape dims,
                      const std::vector<T>& values) {
  TensorData t;
  t.name = name;
  t.dtype = dtype;
  t.dims = std::move(dims);
  t.bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

// Deterministic values in [-scale, scale).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 2654435761u + 1) {}
  float Next(float scale = 1.0f) {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    return scale * (static_cast<float>(state_ >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f);
  }
  std::vector<float> Vector(size_t n, float scale = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = Next(scale);
    return v;
  }

 private:
  uint64_t state_;
};

class GraphBuilder {
 public:
  explicit GraphBuilder(int64_t opset = 17) { graph.opset = opset; }

  void Input(const std::string& name, Shape dims, DType dtype = DType::kFloat) {
    graph.inputs.push_back({name, dtype, std::move(dims)});
  }
  void Output(const std::string& name) { graph.outputs.push_back({name, DType::kUndefined, {}}); }
  std::string Floats(const std::string& name, Shape dims, const std::vector<float>& values) {
    graph.initializers.push_back(MakeTensor(name, DType::kFloat, std::move(dims), values));
    return graph.initializers.back().name;
  }
  std::string Scalar(const std::string& name, float value) { return Floats(name, {}, {value}); }
  std::string Ints(const std::string& name, const std::vector<int64_t>& values) {
    graph.initializers.push_back(
        MakeTensor(name, DType::kInt64, {static_cast<int64_t>(values.size())}, values));
    return graph.initializers.back().name;
  }
  template <typename T>
  std::string Typed(const std::string& name, DType dtype, Shape dims,
                    const std::vector<T>& values) {
    graph.initializers.push_back(MakeTensor(name, dtype, std::move(dims), values));
    return graph.initializers.back().name;
  }
  Node& Op(const std::string& op_type, std::vector<std::string> inputs,
           std::vector<std::string> outputs, std::vector<Attribute> attributes = {}) {
    Node n;
    n.name = outputs.empty() ? op_type : outputs[0];
    n.op_type = op_type;
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    n.attributes = std::move(attributes);
    graph.nodes.push_back(std::move(n));
    return graph.nodes.back();
  }

  Graph graph;
};

inline TensorView FloatView(const std::vector<float>& v, Shape shape) {
  return {DType::kFloat, std::move(shape), v.data(), v.size() * sizeof(float)};
}

// A view of the first ElementCount(shape) floats of `v` (a batch prefix of a larger buffer).
inline TensorView FloatPrefix(const std::vector<float>& v, Shape shape) {
  int64_t n = 0;
  ElementCount(shape, sizeof(float), &n);
  return {DType::kFloat, std::move(shape), v.data(), static_cast<size_t>(n) * sizeof(float)};
}

inline std::vector<float> AsFloats(const OwnedTensor& t) {
  std::vector<float> v(t.bytes.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

inline float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}

// Loads `graph` (copied) and runs it on one float input; returns the first output's floats.
inline Status LoadAndRun(const Graph& graph, bool optimize, const std::vector<TensorView>& inputs,
                         std::vector<OwnedTensor>* outputs,
                         std::unique_ptr<Engine>* engine = nullptr) {
  EngineOptions options;
  options.optimize = optimize;
  options.threads = 2;
  std::unique_ptr<Engine> local;
  std::unique_ptr<Engine>& e = engine != nullptr ? *engine : local;
  Status s = Engine::Load(graph, options, &e);
  if (!s.ok()) return s;
  return e->Run(inputs, outputs);
}

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace sluice::test
