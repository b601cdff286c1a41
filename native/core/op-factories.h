// Factories of the op families, one per op-*.cc file; CreateOp (op-registry.cc) dispatches to
// them by op_type. Each reads and checks the node's attributes (see op-attrs.h).
#pragma once

#include <cstdint>
#include <memory>

#include "linear-epilogue.h"
#include "op.h"

namespace sluice::engine {

using OpFactory = Status (*)(const Node& node, int64_t opset, std::unique_ptr<Op>* out);

// op-elementwise.cc: Add Sub Mul Div Pow, Relu LeakyRelu Sigmoid Tanh Sqrt Erf Gelu, Identity.
Status CreateBinaryOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateUnaryOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateIdentityOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
// op-shape.cc: data movement.
Status CreateReshapeOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateFlattenOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateTransposeOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateConcatOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateGatherOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateConstantOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
// op-normalize.cc: Softmax, LayerNormalization, the fused AddLayerNormalization, ReduceMean.
Status CreateSoftmaxOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateLayerNormOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateAddLayerNormOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateReduceMeanOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
// op-argmax.cc: ArgMax.
Status CreateArgMaxOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
// op-linear.cc: MatMul, Gemm and the fused FusedLinear.
Status CreateMatMulOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateGemmOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateFusedLinearOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
// op-permuted-matmul.cc: the fused PermutedMatMul (attention products on strided layouts).
Status CreatePermutedMatMulOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
// The attributes FusedLinear and QuantizedLinear share: trans_b, alpha, beta, activation,
// act_alpha (the Epilogue's bias is left null: it is an input).
Status ReadLinearAttrs(const Node& node, bool* trans_b, Epilogue* epilogue);
// op-quantize.cc: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, fused FakeQuantize.
Status CreateQuantizeOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateDequantizeOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateDynamicQuantizeOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateFakeQuantizeOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
// op-int8-linear.cc: MatMulInteger, QLinearMatMul and the fused QuantizedLinear (QDQ) and
// DynamicQuantizedLinear (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul).
Status CreateMatMulIntegerOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateQLinearMatMulOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateQuantizedLinearOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateDynamicQuantizedLinearOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
Status CreateQuantizedMatMulOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);
// op-cast.cc: Cast.
Status CreateCastOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);

}  // namespace sluice::engine
