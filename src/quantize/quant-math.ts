/**
 * The quantization arithmetic, as ONNX QuantizeLinear / DequantizeLinear define it:
 *   q = saturate(round_half_even(x / scale) + zero_point),   x' = (q - zero_point) * scale.
 *
 * Weights: int8, symmetric (zero point 0), one scale per output channel, codes in [-127, 127] so
 * that negating a code never overflows and every kernel (VNNI's u8×s8, AVX2's pairwise
 * u8×s8 → s16) sees the same range.
 * Activations: uint8, asymmetric, one scale and zero point per tensor from its calibrated range.
 * uint8 suits what MatMul/Gemm inputs usually are (ReLU outputs and raw features are mostly
 * non-negative, and the full 256 codes go to the range actually seen), and u8 activations × s8
 * weights is the operand order of x86 VNNI (vpdpbusd) and of ONNX Runtime's fast path.
 */

export const WEIGHT_QMAX = 127;

/** Round to nearest, ties to even (ONNX QuantizeLinear rounding). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds ties up; a tie that landed on an odd number goes back down.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface PerChannelWeights {
  /** Same shape and order as the float weights. */
  readonly values: Int8Array;
  /** One FP32 scale per index of `axis` (a single scale when `axis` is undefined). */
  readonly scales: Float32Array;
}

/**
 * Symmetric int8 per-channel quantization of `data` (C order, shape `dims`) along `axis`
 * (undefined: one scale for the whole tensor). A channel of zeros gets scale 1 (any positive
 * scale reproduces it exactly, and 0 would be a division by zero for consumers).
 */
export function quantizeWeights(data: Float32Array, dims: readonly number[], axis: number | undefined): PerChannelWeights {
  const channels = axis === undefined ? 1 : (dims[axis] as number);
  const inner = axis === undefined ? data.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number): number => Math.floor(i / inner) % channels;
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) {
    const v = Math.abs(data[i] as number);
    if (!Number.isFinite(v)) throw new RangeError(`weight element ${i} is ${data[i]}`);
    const c = channelOf(i);
    if (v > (maxAbs[c] as number)) maxAbs[c] = v;
  }
  const scales = Float32Array.from(maxAbs, (m) => (m === 0 ? 1 : m / WEIGHT_QMAX));
  const values = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const q = roundHalfEven((data[i] as number) / (scales[channelOf(i)] as number));
    values[i] = Math.max(-WEIGHT_QMAX, Math.min(WEIGHT_QMAX, q));
  }
  return { values, scales };
}

export interface ActivationParams {
  /** FP32-representable. */
  readonly scale: number;
  /** uint8. */
  readonly zeroPoint: number;
}

/**
 * uint8 scale and zero point covering [min, max] widened to include 0 (so that 0, e.g. padding
 * or a ReLU's floor, is exact). A range of width 0 gets scale 1, zero point 0.
 */
export function activationParams(min: number, max: number): ActivationParams {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new RangeError(`calibrated range [${min}, ${max}] is not a finite interval`);
  }
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (hi === lo) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  const zeroPoint = Math.max(0, Math.min(255, roundHalfEven(-lo / scale)));
  return { scale, zeroPoint };
}

/** x → uint8 code → x' (what a QuantizeLinear/DequantizeLinear pair does), for tests and checks. */
export function fakeQuantizeU8(x: number, p: ActivationParams): number {
  const q = Math.max(0, Math.min(255, roundHalfEven(x / p.scale) + p.zeroPoint));
  return (q - p.zeroPoint) * p.scale;
}
