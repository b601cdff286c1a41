// CreateOp: the table of every op the engine runs, with the input/output counts ONNX allows
// (checked here once so each op may index its inputs without re-checking arity).
#include <string>

#include "op-factories.h"
#include "op.h"

namespace sluice::engine {
namespace {

struct OpEntry {
  const char* domain;  // "" = default ONNX domain
  const char* op_type;
  OpFactory factory;
  size_t min_inputs, max_inputs, min_outputs, max_outputs;
  // The first opset whose semantics the op implements (later versions only added types or
  // attributes, which the factories check); older models are refused rather than misread.
  int64_t since;
};

constexpr size_t kMany = 1 << 20;  // variadic (Concat)

constexpr OpEntry kOps[] = {
    {"", "Add", CreateBinaryOp, 2, 2, 1, 1, 7},
    {"", "Sub", CreateBinaryOp, 2, 2, 1, 1, 7},
    {"", "Mul", CreateBinaryOp, 2, 2, 1, 1, 7},
    {"", "Div", CreateBinaryOp, 2, 2, 1, 1, 7},
    {"", "Pow", CreateBinaryOp, 2, 2, 1, 1, 7},
    {"", "Relu", CreateUnaryOp, 1, 1, 1, 1, 6},
    {"", "LeakyRelu", CreateUnaryOp, 1, 1, 1, 1, 6},
    {"", "Sigmoid", CreateUnaryOp, 1, 1, 1, 1, 6},
    {"", "Tanh", CreateUnaryOp, 1, 1, 1, 1, 6},
    {"", "Sqrt", CreateUnaryOp, 1, 1, 1, 1, 6},
    {"", "Erf", CreateUnaryOp, 1, 1, 1, 1, 9},
    {"", "Gelu", CreateUnaryOp, 1, 1, 1, 1, 20},
    {"", "Identity", CreateIdentityOp, 1, 1, 1, 1, 1},
    {"", "Reshape", CreateReshapeOp, 2, 2, 1, 1, 5},
    {"", "Flatten", CreateFlattenOp, 1, 1, 1, 1, 11},
    {"", "Transpose", CreateTransposeOp, 1, 1, 1, 1, 1},
    {"", "Concat", CreateConcatOp, 1, kMany, 1, 1, 11},
    {"", "Gather", CreateGatherOp, 2, 2, 1, 1, 11},
    {"", "Constant", CreateConstantOp, 0, 0, 1, 1, 1},
    {"", "Softmax", CreateSoftmaxOp, 1, 1, 1, 1, 13},
    {"", "LayerNormalization", CreateLayerNormOp, 2, 3, 1, 3, 17},
    {"", "ReduceMean", CreateReduceMeanOp, 1, 2, 1, 1, 13},
    {"", "ArgMax", CreateArgMaxOp, 1, 1, 1, 1, 11},
    {"", "MatMul", CreateMatMulOp, 2, 2, 1, 1, 1},
    {"", "Gemm", CreateGemmOp, 2, 3, 1, 1, 11},
    {"", "QuantizeLinear", CreateQuantizeOp, 2, 3, 1, 1, 10},
    {"", "DequantizeLinear", CreateDequantizeOp, 2, 3, 1, 1, 10},
    {"", "DynamicQuantizeLinear", CreateDynamicQuantizeOp, 1, 1, 3, 3, 11},
    {"", "MatMulInteger", CreateMatMulIntegerOp, 2, 4, 1, 1, 10},
    {"", "QLinearMatMul", CreateQLinearMatMulOp, 8, 8, 1, 1, 10},
    // Cast-1 took `to` as a string; from 6 on the semantics of the types the engine has are
    // unchanged (later versions add types, and `saturate` / `round_mode`, for float8 only).
    {"", "Cast", CreateCastOp, 1, 1, 1, 1, 6},
    // Fused ops, created only by the engine's own passes (inputs documented in op-linear.cc,
    // op-int8-linear.cc, op-int8-matmul.cc, op-permuted-matmul.cc, op-quantize.cc and
    // op-normalize.cc).
    {kInternalDomain, "FusedLinear", CreateFusedLinearOp, 2, 3, 1, 1, 0},
    {kInternalDomain, "QuantizedLinear", CreateQuantizedLinearOp, 5, 9, 1, 1, 0},
    {kInternalDomain, "DynamicQuantizedLinear", CreateDynamicQuantizedLinearOp, 3, 7, 1, 1, 0},
    {kInternalDomain, "FakeQuantize", CreateFakeQuantizeOp, 2, 3, 1, 1, 0},
    // A, a_scale, [a_zero_point], B, b_scale, [b_zero_point]: zero points may be "", so only
    // two inputs count as required here; the op checks the rest (op-int8-matmul.cc).
    {kInternalDomain, "QuantizedMatMul", CreateQuantizedMatMulOp, 2, 6, 1, 1, 0},
    {kInternalDomain, "PermutedMatMul", CreatePermutedMatMulOp, 2, 2, 1, 1, 0},
    {kInternalDomain, "Gelu", CreateUnaryOp, 1, 1, 1, 1, 0},
    {kInternalDomain, "LayerNormalization", CreateLayerNormOp, 2, 3, 1, 3, 0},
    {kInternalDomain, "AddLayerNormalization", CreateAddLayerNormOp, 3, 4, 1, 1, 0},
};

// "1 input", "2 to 3 inputs", "at least 1 input".
std::string Arity(size_t lo, size_t hi, const char* what) {
  // The noun agrees with the last number said.
  const size_t said = hi == kMany || lo == hi ? lo : hi;
  const std::string noun = std::string(what) + (said == 1 ? "" : "s");
  if (hi == kMany) return "at least " + std::to_string(lo) + " " + noun;
  if (lo == hi) return std::to_string(lo) + " " + noun;
  return std::to_string(lo) + " to " + std::to_string(hi) + " " + noun;
}

// The count a node gave: when too few, the ones before its trailing omitted ("") names, which
// are said apart (a node with inputs ["x", ""] gives 1, "and 1 omitted").
std::string Given(size_t present, size_t listed, size_t min) {
  if (present >= min || present == listed) return std::to_string(listed);
  return std::to_string(present) + " (and " + std::to_string(listed - present) + " omitted)";
}

}  // namespace

Status CreateOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out) {
  const std::string domain = node.domain == "ai.onnx" ? std::string() : node.domain;
  for (const OpEntry& e : kOps) {
    if (domain != e.domain || node.op_type != e.op_type) continue;
    if (opset < e.since) {
      return Status(StatusCode::UNIMPLEMENTED, node.op_type + " before opset " + std::to_string(e.since) +
                                                   " (its semantics differ) is not supported");
    }
    // Trailing omitted inputs/outputs ("") count as absent.
    size_t n_in = node.inputs.size(), n_out = node.outputs.size();
    while (n_in > 0 && node.inputs[n_in - 1].empty()) --n_in;
    while (n_out > 0 && node.outputs[n_out - 1].empty()) --n_out;
    if (n_in < e.min_inputs || node.inputs.size() > e.max_inputs) {
      return InvalidArgument("takes " + Arity(e.min_inputs, e.max_inputs, "input") + ", got " +
                             Given(n_in, node.inputs.size(), e.min_inputs));
    }
    if (n_out < e.min_outputs || node.outputs.size() > e.max_outputs) {
      return InvalidArgument("takes " + Arity(e.min_outputs, e.max_outputs, "output") + ", got " +
                             Given(n_out, node.outputs.size(), e.min_outputs));
    }
    for (size_t i = 0; i < e.min_inputs; ++i) {
      if (node.inputs[i].empty())
        return InvalidArgument("required input " + std::to_string(i) + " is omitted");
    }
    if (node.outputs[0].empty()) return InvalidArgument("output 0 is omitted");
    return e.factory(node, opset, out);
  }
  std::string name = domain.empty() ? node.op_type : domain + "." + node.op_type;
  return Status(StatusCode::UNIMPLEMENTED, "unsupported op " + name);
}

}  // namespace sluice::engine
