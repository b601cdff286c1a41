// The native engine's model IR: a compact, already-decoded ONNX graph. TypeScript reads the
// .onnx file and the addon copies it into these plain structs (no Node-API, no protobuf), so the
// engine, its tests and its tools build and run without Node. Nothing here is validated on
// construction: Engine::Load checks everything and refuses a malformed graph with a Status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sluice/dtype.h"

namespace sluice {

// A constant tensor (an initializer, or a Constant node's / tensor attribute's value).
struct TensorData {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape dims;                  // concrete, outermost first; empty = scalar
  std::vector<uint8_t> bytes;  // raw little-endian elements, dense row-major
};

// A graph input or output. dims: -1 = dynamic (any size at run time); an empty dims is a scalar.
struct ValueInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape dims;
};

// An ONNX attribute. Only the member named by `kind` is meaningful.
struct Attribute {
  enum class Kind { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings };

  std::string name;
  Kind kind = Kind::kInt;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  TensorData t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct Node {
  std::string name;                  // may be empty; errors then name the node by its first output
  std::string op_type;               // "MatMul", "Gelu", ...
  std::string domain;                // "" or "ai.onnx" = the default ONNX domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;  // "" marks an omitted optional output
  std::vector<Attribute> attributes;
};

struct Graph {
  int64_t opset = 0;  // opset version of the default ONNX domain
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<TensorData> initializers;
  std::vector<Node> nodes;  // in any order; the engine sorts them topologically
};

// Human name of a node for error messages: "node 'fc1' (Gemm)" or "node producing 'y' (Gemm)".
std::string NodeLabel(const Node& node);

}  // namespace sluice
