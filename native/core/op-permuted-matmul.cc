// PermutedMatMul, the fused multi-head attention product:
//   Y = transpose(alpha * (transpose(A, perm_a) . transpose(B, perm_b)), perm_y)
// over rank-4 FP32 tensors, with every transpose read or written as strides of the FP32 GEMM
// instead of copied. FusePermutedMatMul (engine-fuse-permuted-matmul.cc) makes it from a PyTorch
// export's Reshape -> Transpose -> MatMul [-> scale] [-> Transpose] chains: Q.K^T / sqrt(d) reads
// the Q and K projections where they are, and P.V writes the heads straight into the merged
// [batch, tokens, heads * d] layout.
//
// Inputs: A, B float, rank 4. Attributes: perm_a, perm_b, perm_y (permutations of 0..3 with
// axis 0 first), alpha. A' = transpose(A, perm_a) is [b, h, M, K] and B' = [b, h, K, N]; their
// axes 0 and 1 broadcast as MatMul's batch axes do. A' must have a unit stride along M or K, B'
// along K or N, and the product's N axis must stay last in Y (the fusion only builds such ops).
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "op-attrs.h"
#include "op-factories.h"
#include "op-util.h"
#include "sluice/fp32-gemm.h"

namespace sluice::engine {
namespace {

using Perm = std::array<int64_t, 4>;

// A rank-4 view of a contiguous tensor: its dims and element strides, axis by axis.
struct View {
  std::array<int64_t, 4> dims;
  std::array<size_t, 4> strides;
};

std::array<size_t, 4> ContiguousStrides(const Shape& x) {
  std::array<size_t, 4> s{};
  s[3] = 1;
  for (size_t i = 3; i-- > 0;) s[i] = s[i + 1] * static_cast<size_t>(x[i + 1]);
  return s;
}

// transpose(x, perm) as a view of x's bytes.
View Permuted(const Shape& x, const Perm& perm) {
  const std::array<size_t, 4> s = ContiguousStrides(x);
  View v;
  for (size_t i = 0; i < 4; ++i) v.dims[i] = x[perm[i]], v.strides[i] = s[perm[i]];
  return v;
}

bool ReadPerm(const Attrs& attrs, const char* name, Perm* out) {
  std::vector<int64_t> p;
  bool present = false;
  if (!attrs.Ints(name, &p, &present).ok() || !present || p.size() != 4 || p[0] != 0) return false;
  std::array<bool, 4> seen{};
  for (size_t i = 0; i < 4; ++i) {
    if (p[i] < 0 || p[i] > 3 || seen[p[i]]) return false;
    seen[p[i]] = true;
    (*out)[i] = p[i];
  }
  return true;
}

std::string PermString(const Perm& p) { return ShapeString(Shape(p.begin(), p.end())); }

class PermutedMatMul final : public Op {
 public:
  PermutedMatMul(const Perm& perm_a, const Perm& perm_b, const Perm& perm_y, float alpha)
      : perm_a_(perm_a), perm_b_(perm_b), perm_y_(perm_y), alpha_(alpha) {}

  // Every perm keeps axis 0 first, so row r of Y reads row r of A and B (or their one row).
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "A", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[1], "B", {DType::kFloat}));
    const Shape& a = *in[0].shape;
    const Shape& b = *in[1].shape;
    if (a.size() != 4 || b.size() != 4) {
      return InvalidArgument("A and B must be rank 4, got " + ShapeString(a) + " and " +
                             ShapeString(b));
    }
    const View va = Permuted(a, perm_a_), vb = Permuted(b, perm_b_);
    std::array<int64_t, 4> product{0, 0, va.dims[2], vb.dims[3]};
    for (size_t d = 0; d < 2; ++d) {
      const int64_t x = va.dims[d], y = vb.dims[d];
      if (x != y && x != 1 && y != 1) {
        return InvalidArgument("batch axis " + std::to_string(d) + " of the permuted operands (" +
                               std::to_string(x) + " and " + std::to_string(y) +
                               ") does not broadcast");
      }
      product[d] = x == 1 ? y : x;
    }
    if (va.dims[3] != vb.dims[2]) {
      return InvalidArgument("inner dims differ: K " + std::to_string(va.dims[3]) + " and " +
                             std::to_string(vb.dims[2]));
    }
    Shape y(4);
    for (size_t i = 0; i < 4; ++i) y[i] = product[perm_y_[i]];
    (*out)[0] = {DType::kFloat, std::move(y)};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const View va = Permuted(*in[0].shape, perm_a_), vb = Permuted(*in[1].shape, perm_b_);
    // Y' (the product before perm_y) as a view of Y: Y' axis perm_y[i] is Y's axis i.
    const std::array<size_t, 4> ys = ContiguousStrides(*out[0].shape);
    View vy;
    for (size_t i = 0; i < 4; ++i) {
      vy.dims[perm_y_[i]] = (*out[0].shape)[i];
      vy.strides[perm_y_[i]] = ys[i];
    }
    if (NumElements(*out[0].shape) == 0) return Status::Ok();

    Fp32GemmArgs args;
    args.m = static_cast<size_t>(va.dims[2]);
    args.k = static_cast<size_t>(va.dims[3]);
    args.n = static_cast<size_t>(vb.dims[3]);
    // From the perms, not the strides (a dim of 1 can make any stride 1): K is A's last source
    // axis (rows of A, stride lda) or M is (A stored transposed, rows of A^T along K).
    args.trans_a = perm_a_[3] != 3;
    args.lda = va.strides[args.trans_a ? 3 : 2];
    const bool trans_b = perm_b_[3] != 3;
    const size_t ldb = vb.strides[trans_b ? 3 : 2];
    args.ldc = vy.strides[2];
    args.epilogue.alpha = alpha_;
    // A broadcast operand (dim 1 against the product's) moves by 0 along that axis.
    const auto along = [](const View& v, size_t axis) {
      return v.dims[axis] == 1 ? size_t{0} : v.strides[axis];
    };
    Fp32Batch heads;
    heads.count = static_cast<size_t>(vy.dims[1]);
    heads.stride_a = along(va, 1), heads.stride_b = along(vb, 1), heads.stride_c = vy.strides[1];
    size_t outer = static_cast<size_t>(vy.dims[0]);
    // When axis 0 steps over whole runs of axis 1 in every tensor (the batch axes were not
    // transposed), the two are one batch axis: one GEMM call for every item.
    const size_t h = heads.count;
    if (along(va, 0) == heads.stride_a * h && along(vb, 0) == heads.stride_b * h &&
        vy.strides[0] == heads.stride_c * h) {
      heads.count *= outer;
      outer = 1;
    }
    const float* a = static_cast<const float*>(in[0].data);
    const float* b = static_cast<const float*>(in[1].data);
    float* y = static_cast<float*>(out[0].data);
    for (size_t o = 0; o < outer; ++o) {
      args.a = a + o * along(va, 0);
      args.c = y + o * vy.strides[0];
      RETURN_IF_ERROR(Fp32Gemm(args, b + o * along(vb, 0), ldb, trans_b, env.pool, heads));
    }
    return Status::Ok();
  }

  std::string Details() const override {
    std::string d = "a=" + PermString(perm_a_) + " b=" + PermString(perm_b_) +
                    " y=" + PermString(perm_y_);
    if (alpha_ != 1.0f) d += " alpha=" + std::to_string(alpha_);
    return d;
  }

 private:
  Perm perm_a_, perm_b_, perm_y_;
  float alpha_;
};

}  // namespace

Status CreatePermutedMatMulOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"perm_a", "perm_b", "perm_y", "alpha"}));
  Perm pa, pb, py;
  if (!ReadPerm(attrs, "perm_a", &pa) || !ReadPerm(attrs, "perm_b", &pb) ||
      !ReadPerm(attrs, "perm_y", &py)) {
    return InvalidArgument("perm_a, perm_b and perm_y must be permutations of [0,1,2,3] starting with 0");
  }
  // The GEMM needs a unit stride in each operand's matrix, and along N in the output.
  if ((pa[2] != 3 && pa[3] != 3) || (pb[2] != 3 && pb[3] != 3) || py[3] != 3) {
    return Unimplemented("PermutedMatMul needs a unit-stride axis in each matrix");
  }
  float alpha = 1.0f;
  RETURN_IF_ERROR(attrs.Float("alpha", 1.0f, &alpha));
  *out = std::make_unique<PermutedMatMul>(pa, pb, py, alpha);
  return Status::Ok();
}

}  // namespace sluice::engine
