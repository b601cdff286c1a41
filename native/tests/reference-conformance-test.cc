// The reference kernels against the ONNX backend conformance cases in
// test/fixtures/onnx-conformance (one-node models; the *_expanded variants exercise the graph
// engine, not single kernels, and are not run here). Float outputs must match within
// rtol 1e-5 / atol 1e-6 (the engine's tolerance, tighter than ONNX's 1e-3 / 1e-7); integer outputs
// exactly. Cases with element types or attributes the kernels do not take are counted as skipped
// with a reason; the test fails if any case fails or too few run.
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "onnx-case-reader.h"
#include "sluice/kernels/reference.h"
#include "test-harness.h"

namespace {

using sluice::DType;
using sluice::Shape;
using sluice::Status;
using sluice::test::CaseNode;
using sluice::test::CaseTensor;
namespace k = sluice::kernels;

const std::string kDir = std::string(SLUICE_SOURCE_DIR) + "/test/fixtures/onnx-conformance/";

// Outputs preallocated from the expected ones (type and shape); kernels fill them in.
struct Run {
  const CaseNode& node;
  std::vector<CaseTensor> in;   // by node input position; !present when omitted
  std::vector<CaseTensor> out;  // shaped like the expected outputs, zero-filled
  std::string skip;             // set: not runnable, with the reason
};

bool IsFloat(const CaseTensor& t) { return t.type == DType::kFloat; }
const CaseTensor* Opt(const Run& r, size_t i) { return i < r.in.size() && r.in[i].present ? &r.in[i] : nullptr; }

Status RunBinary(Run& r, k::BinaryOp op) {
  const CaseTensor &a = r.in[0], &b = r.in[1];
  const bool ok_type = a.type == b.type && (IsFloat(a) || ((a.type == DType::kInt32 || a.type == DType::kInt64) &&
                                                             op != k::BinaryOp::kPow));
  if (!ok_type) { r.skip = std::string("element types ") + DTypeName(a.type) + "/" + DTypeName(b.type); return Status(); }
  return k::Binary(op, a.type, a.bytes.data(), a.dims, b.bytes.data(), b.dims, r.out[0].bytes.data());
}

Status RunUnary(Run& r, k::UnaryOp op, float alpha) {
  if (!IsFloat(r.in[0])) { r.skip = std::string("element type ") + DTypeName(r.in[0].type); return Status(); }
  return k::UnaryF32(op, r.in[0].as<float>(), r.in[0].count(), alpha, reinterpret_cast<float*>(r.out[0].bytes.data()));
}

float* OutF(Run& r, size_t i) { return i < r.out.size() ? reinterpret_cast<float*>(r.out[i].bytes.data()) : nullptr; }

Status RunLayerNorm(Run& r) {
  const CaseTensor& x = r.in[0];
  const int64_t axis = r.node.AttrI("axis", -1);
  int64_t ax = 0;
  if (k::NormalizeAxis(axis, static_cast<int64_t>(x.dims.size()), &ax)) {
    size_t group = 1;  // the kernel takes scale and bias already broadcast to dims [axis, rank)
    for (size_t i = static_cast<size_t>(ax); i < x.dims.size(); ++i) group *= static_cast<size_t>(x.dims[i]);
    if (r.in[1].count() != group) { r.skip = "scale needs broadcasting"; return Status(); }
  }
  const CaseTensor* bias = Opt(r, 2);
  return k::LayerNorm(x.as<float>(), x.dims, axis, r.node.AttrF("epsilon", 1e-5f), r.in[1].as<float>(),
                      bias ? bias->as<float>() : nullptr, OutF(r, 0), OutF(r, 1), OutF(r, 2));
}

Status RunReduceMean(Run& r) {
  std::vector<int64_t> axes;
  if (const CaseTensor* a = Opt(r, 1)) axes.assign(a->as<int64_t>(), a->as<int64_t>() + a->count());
  else if (const auto* attr = r.node.Attr("axes")) axes = attr->ints;
  Shape shape;
  RETURN_IF_ERROR(k::ReduceMean(r.in[0].as<float>(), r.in[0].dims, axes, r.node.AttrI("keepdims", 1) != 0,
                                r.node.AttrI("noop_with_empty_axes", 0) != 0, OutF(r, 0), &shape));
  if (shape != r.out[0].dims) return sluice::Internal("ReduceMean output shape differs");
  return Status();
}

Status RunConcat(Run& r) {
  std::vector<const void*> xs;
  std::vector<Shape> shapes;
  for (const CaseTensor& t : r.in) {
    xs.push_back(t.bytes.data());
    shapes.push_back(t.dims);
  }
  return k::Concat(r.in[0].type, xs, shapes, r.node.AttrI("axis", 0), r.out[0].bytes.data());
}

Status RunGemm(Run& r) {
  const CaseTensor* c = Opt(r, 2);
  return k::GemmF32(r.in[0].as<float>(), r.in[0].dims, r.node.AttrI("transA", 0) != 0, r.in[1].as<float>(),
                    r.in[1].dims, r.node.AttrI("transB", 0) != 0, c ? c->as<float>() : nullptr, c ? c->dims : Shape{},
                    r.node.AttrF("alpha", 1), r.node.AttrF("beta", 1), OutF(r, 0));
}

Status RunQuantize(Run& r) {
  const CaseTensor* zp = Opt(r, 2);
  const DType y = r.out[0].type;
  if (r.node.AttrI("block_size", 0) != 0 || !IsFloat(r.in[0]) || !IsFloat(r.in[1]) ||
      (y != DType::kUint8 && y != DType::kInt8)) {
    r.skip = std::string("blocked or ") + DTypeName(r.in[0].type) + " -> " + DTypeName(y);
    return Status();
  }
  return k::QuantizeLinear(r.in[0].as<float>(), r.in[0].dims, r.in[1].as<float>(), zp ? zp->bytes.data() : nullptr,
                           r.in[1].count(), r.node.AttrI("axis", 1), y, r.out[0].bytes.data());
}

Status RunDequantize(Run& r) {
  const CaseTensor* zp = Opt(r, 2);
  const DType x = r.in[0].type;
  if (r.node.AttrI("block_size", 0) != 0 || !IsFloat(r.in[1]) ||
      (x != DType::kUint8 && x != DType::kInt8 && x != DType::kInt32)) {
    r.skip = std::string("blocked or ") + DTypeName(x) + " input with " + DTypeName(r.in[1].type) + " scale";
    return Status();
  }
  return k::DequantizeLinear(x, r.in[0].bytes.data(), r.in[0].dims, r.in[1].as<float>(),
                             zp ? zp->bytes.data() : nullptr, r.in[1].count(), r.node.AttrI("axis", 1), OutF(r, 0));
}

Status RunMatMulInteger(Run& r) {
  const CaseTensor *azp = Opt(r, 2), *bzp = Opt(r, 3);
  return k::MatMulInteger(r.in[0].type, r.in[0].bytes.data(), r.in[0].dims, azp ? azp->bytes.data() : nullptr,
                          azp ? azp->count() : 0, r.in[1].type, r.in[1].bytes.data(), r.in[1].dims,
                          bzp ? bzp->bytes.data() : nullptr, bzp ? bzp->count() : 0,
                          reinterpret_cast<int32_t*>(r.out[0].bytes.data()));
}

int32_t QuantAt(const CaseTensor& t, size_t i) {
  return t.type == DType::kUint8 ? t.as<uint8_t>()[i] : t.as<int8_t>()[i];
}

Status RunQLinearMatMul(Run& r) {
  // Inputs: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp.
  if (!IsFloat(r.in[1]) || !IsFloat(r.in[4]) || !IsFloat(r.in[6])) { r.skip = "non-float scales"; return Status(); }
  std::vector<int32_t> b_zp;
  for (size_t j = 0; j < r.in[5].count(); ++j) b_zp.push_back(QuantAt(r.in[5], j));
  return k::QLinearMatMul(r.in[0].type, r.in[0].bytes.data(), r.in[0].dims, r.in[1].as<float>()[0], QuantAt(r.in[2], 0),
                          r.in[3].type, r.in[3].bytes.data(), r.in[3].dims, r.in[4].as<float>(), b_zp.data(),
                          b_zp.size(), r.in[6].as<float>()[0], QuantAt(r.in[7], 0), r.out[0].type,
                          r.out[0].bytes.data());
}

// Runs the case's node on the reference kernels; an empty r.skip and OK means "ran".
Status Dispatch(Run& r) {
  const std::string& op = r.node.op;
  void* out0 = r.out[0].bytes.data();
  if (op == "Add") return RunBinary(r, k::BinaryOp::kAdd);
  if (op == "Sub") return RunBinary(r, k::BinaryOp::kSub);
  if (op == "Mul") return RunBinary(r, k::BinaryOp::kMul);
  if (op == "Div") return RunBinary(r, k::BinaryOp::kDiv);
  if (op == "Pow") return RunBinary(r, k::BinaryOp::kPow);
  if (op == "Sqrt") return RunUnary(r, k::UnaryOp::kSqrt, 0);
  if (op == "Erf") return RunUnary(r, k::UnaryOp::kErf, 0);
  if (op == "Relu") return RunUnary(r, k::UnaryOp::kRelu, 0);
  if (op == "LeakyRelu") return RunUnary(r, k::UnaryOp::kLeakyRelu, r.node.AttrF("alpha", 0.01f));
  if (op == "Sigmoid") return RunUnary(r, k::UnaryOp::kSigmoid, 0);
  if (op == "Tanh") return RunUnary(r, k::UnaryOp::kTanh, 0);
  if (op == "Identity") {
    if (!r.in[0].present || r.in[0].type == DType::kUndefined) { r.skip = "not a tensor"; return Status(); }
    // A copy, done as the transpose of the flattened tensor.
    return k::Transpose(r.in[0].type, r.in[0].bytes.data(), {int64_t(r.in[0].count())}, {}, out0);
  }
  if (op == "Gelu") {
    const auto* a = r.node.Attr("approximate");
    return RunUnary(r, a != nullptr && a->s == "tanh" ? k::UnaryOp::kGeluTanh : k::UnaryOp::kGelu, 0);
  }
  if (op == "Softmax") return k::Softmax(r.in[0].as<float>(), r.in[0].dims, r.node.AttrI("axis", -1), OutF(r, 0));
  if (op == "LayerNormalization") return RunLayerNorm(r);
  if (op == "ReduceMean") return RunReduceMean(r);
  if (op == "Transpose") {
    const auto* perm = r.node.Attr("perm");
    return k::Transpose(r.in[0].type, r.in[0].bytes.data(), r.in[0].dims, perm ? perm->ints : std::vector<int64_t>{}, out0);
  }
  if (op == "Concat") return RunConcat(r);
  if (op == "Gather") {
    return k::Gather(r.in[0].type, r.in[0].bytes.data(), r.in[0].dims, r.in[1].type, r.in[1].bytes.data(),
                     r.in[1].dims, r.node.AttrI("axis", 0), out0);
  }
  if (op == "MatMul") {
    if (!IsFloat(r.in[0])) { r.skip = "non-float MatMul"; return Status(); }
    return k::MatMulF32(r.in[0].as<float>(), r.in[0].dims, r.in[1].as<float>(), r.in[1].dims, OutF(r, 0));
  }
  if (op == "Gemm") return RunGemm(r);
  if (op == "QuantizeLinear") return RunQuantize(r);
  if (op == "DequantizeLinear") return RunDequantize(r);
  if (op == "DynamicQuantizeLinear") {
    return k::DynamicQuantizeLinear(r.in[0].as<float>(), r.in[0].count(), r.out[0].bytes.data(), OutF(r, 1),
                                    r.out[2].bytes.data());
  }
  if (op == "MatMulInteger") return RunMatMulInteger(r);
  if (op == "QLinearMatMul") return RunQLinearMatMul(r);
  r.skip = "op " + op + " has no single reference kernel (shape-only or constant)";
  return Status();
}

// Compares an output with its expectation; describes the first mismatch in *why.
bool Matches(const CaseTensor& got, const CaseTensor& want, std::string* why) {
  if (want.type != DType::kFloat) {
    if (got.bytes == want.bytes) return true;
    *why = "integer output differs";
    return false;
  }
  for (size_t i = 0; i < want.count(); ++i) {
    const float g = got.as<float>()[i], w = want.as<float>()[i];
    if (std::isnan(w) ? std::isnan(g) : std::fabs(g - w) <= 1e-6f + 1e-5f * std::fabs(w)) continue;
    char buf[96];
    std::snprintf(buf, sizeof buf, "element %zu: got %.9g want %.9g", i, g, w);
    *why = buf;
    return false;
  }
  return true;
}

// Loads and runs one case. Returns "" when it passed, "skip: ..." or "fail: ...".
std::string RunCase(const std::string& name) {
  CaseNode node;
  if (!sluice::test::ReadModel(kDir + name + "/model.onnx", &node)) return "fail: unreadable model";
  Run r{node, {}, {}, ""};
  for (const std::string& input : node.inputs) {
    CaseTensor t;
    for (size_t g = 0; g < node.graph_inputs.size() && !input.empty(); ++g) {
      if (node.graph_inputs[g] != input) continue;
      if (!sluice::test::ReadTensor(kDir + name + "/test_data_set_0/input_" + std::to_string(g) + ".pb", &t)) {
        return "skip: input " + input + " is not a tensor";
      }
    }
    r.in.push_back(t);
  }
  std::vector<CaseTensor> want(node.outputs.size());
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    const std::string path = kDir + name + "/test_data_set_0/output_" + std::to_string(i) + ".pb";
    if (!sluice::test::ReadTensor(path, &want[i]) || sluice::DTypeSize(want[i].type) == 0) {
      return "skip: output " + std::to_string(i) + " is not a fixed-size tensor";
    }
    CaseTensor out = want[i];
    std::fill(out.bytes.begin(), out.bytes.end(), 0);
    r.out.push_back(out);
  }
  if (r.out.empty()) return "skip: no outputs";
  const Status s = Dispatch(r);
  if (!r.skip.empty()) return "skip: " + r.skip;
  if (!s.ok()) return "fail: " + s.ToString();
  for (size_t i = 0; i < want.size(); ++i) {
    std::string why;
    if (!Matches(r.out[i], want[i], &why)) return "fail: output " + std::to_string(i) + " " + why;
  }
  return "";
}

std::vector<std::string> CaseNames() {
  std::vector<uint8_t> json;
  std::vector<std::string> names;
  if (!sluice::test::ReadFile(kDir + "manifest.json", &json)) return names;
  // The manifest is machine-written: every case name is a quoted string starting with "test_".
  const std::string text(json.begin(), json.end());
  for (size_t at = text.find("\"test_"); at != std::string::npos; at = text.find("\"test_", at + 1)) {
    const size_t end = text.find('"', at + 1);
    names.push_back(text.substr(at + 1, end - at - 1));
  }
  return names;
}

TEST(ConformanceCasesPassOnReferenceKernels) {
  const std::vector<std::string> names = CaseNames();
  ASSERT_TRUE(!names.empty());
  int passed = 0, failed = 0, skipped = 0;
  for (const std::string& name : names) {
    if (name.find("_expanded") != std::string::npos) continue;  // multi-node graphs: the engine's job
    const std::string result = RunCase(name);
    if (result.empty()) {
      ++passed;
    } else if (result.rfind("skip", 0) == 0) {
      ++skipped;
      std::printf("  %-52s %s\n", name.c_str(), result.c_str());
    } else {
      ++failed;
      std::printf("  %-52s %s\n", name.c_str(), result.c_str());
    }
  }
  std::printf("  conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  EXPECT_EQ(failed, 0);
  EXPECT_TRUE(passed >= 100);
}

}  // namespace

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
