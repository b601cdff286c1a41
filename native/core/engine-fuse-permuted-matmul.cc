// PermutedMatMul fusion: MatMul(T_a(A), T_b(B)) [-> Div / Mul by a constant scalar] [-> T_y],
// where each T is an optional Transpose of a rank-4 tensor that keeps axis 0 first (a PyTorch
// multi-head attention: Q and K^T, P and V, split into heads; the context merged back), becomes
// one PermutedMatMul (op-permuted-matmul.cc) that reads and writes those layouts as GEMM
// strides. Each swallowed Transpose must be the only reader of what it transposes into, and the
// GEMM needs a unit stride in each matrix: a permuted operand's last two axes must include the
// source's last axis, and the product's last axis must stay last.
#include <string>
#include <vector>

#include "engine-fuse.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

const std::vector<int64_t> kIdentity{0, 1, 2, 3};

// A 4-axis permutation that keeps axis 0 first.
bool IsBatchPerm(const std::vector<int64_t>& p) {
  if (p.size() != 4 || p[0] != 0) return false;
  std::vector<bool> seen(4, false);
  for (int64_t v : p) {
    if (v < 0 || v > 3 || seen[v]) return false;
    seen[v] = true;
  }
  return true;
}

std::vector<int64_t> PermOf(const Node& transpose) {
  for (const Attribute& a : transpose.attributes) {
    if (a.name == "perm" && a.kind == Attribute::Kind::kInts) return a.ints;
  }
  return {};  // reversed axes: never keeps axis 0 first at rank 4
}

bool IsFloatRank4(const GraphIndex& index, const std::string& name) {
  const TensorType* t = index.Type(name);
  return t != nullptr && t->dtype == DType::kFloat && t->shape.size() == 4;
}

// A MatMul operand: the tensor the fused op reads and how it is permuted.
struct Operand {
  std::string source;
  std::vector<int64_t> perm = kIdentity;
  const Node* transpose = nullptr;  // swallowed, or null
};

// True when `name` is a MatMul's output, or a scale of one: a Transpose of it may be that
// MatMul's tail, and one Transpose must not be swallowed by two fusions.
bool FromMatMul(const GraphIndex& index, const std::string& name) {
  const Node* p = index.Producer(name);
  if (IsOp(p, "MatMul")) return true;
  if (!IsOp(p, "Div") && !IsOp(p, "Mul")) return false;
  for (const std::string& in : p->inputs) {
    if (IsOp(index.Producer(in), "MatMul")) return true;
  }
  return false;
}

Operand OperandOf(const GraphIndex& index, const std::string& name) {
  const Node* t = index.Producer(name);
  if (IsOp(t, "Transpose") && index.SingleUse(name) && IsFloatRank4(index, t->inputs[0]) &&
      !FromMatMul(index, t->inputs[0])) {
    const std::vector<int64_t> perm = PermOf(*t);
    if (IsBatchPerm(perm) && (perm[2] == 3 || perm[3] == 3)) return {t->inputs[0], perm, t};
  }
  return {name};
}

bool Match(const GraphIndex& index, const Node& matmul, Rewrite* rewrite) {
  if (!IsOp(&matmul, "MatMul") || !IsFloatRank4(index, matmul.inputs[0]) ||
      !IsFloatRank4(index, matmul.inputs[1])) {
    return false;
  }
  const Operand a = OperandOf(index, matmul.inputs[0]);
  const Operand b = OperandOf(index, matmul.inputs[1]);
  // An operand used as is must itself have a unit stride along its last axis (it does: rank 4,
  // identity). A constant B is FusedLinear's (it ran first), so B here is a run-time tensor.
  std::vector<const Node*> parts{&matmul};
  std::string output = matmul.outputs[0];
  float alpha = 1.0f;
  if (const Node* scale = MatchScalarScale(index, output, &alpha)) {
    parts.push_back(scale);
    output = scale->outputs[0];
  }
  std::vector<int64_t> perm_y = kIdentity;
  const Node* after = index.SoleConsumer(output);
  if (IsOp(after, "Transpose") && IsBatchPerm(PermOf(*after)) && PermOf(*after)[3] == 3) {
    perm_y = PermOf(*after);
    parts.push_back(after);
    output = after->outputs[0];
  }
  // Nothing absorbed: the plain MatMul is the same GEMM.
  if (a.transpose == nullptr && b.transpose == nullptr && parts.size() == 1) return false;

  std::vector<const Node*> named;
  if (a.transpose != nullptr) named.push_back(a.transpose);
  if (b.transpose != nullptr) named.push_back(b.transpose);
  named.insert(named.end(), parts.begin(), parts.end());
  Node& fused = rewrite->node;
  fused.name = FusedName(named);
  fused.op_type = "PermutedMatMul";
  fused.domain = kInternalDomain;
  fused.inputs = {a.source, b.source};
  fused.outputs = {output};
  fused.attributes = {IntsAttribute("perm_a", a.perm), IntsAttribute("perm_b", b.perm),
                      IntsAttribute("perm_y", perm_y), FloatAttribute("alpha", alpha)};
  for (const Node* n : named) rewrite->remove.push_back(index.IndexOf(n));
  return true;
}

}  // namespace

int FusePermutedMatMul(Graph* graph, const ValueTypes& types) {
  // Anchored on one MatMul each; a Transpose it swallows has no other reader, so none is shared.
  return RewriteMatches(graph, types, Match);
}

}  // namespace sluice::engine
