/**
 * The typed surface of build/Release/sluice.node: the one declaration of what the addon exports
 * (native/addon/addon.cc builds the export table; keep the two in step). Every object the addon
 * returns is frozen and, per thread, the same object on every call.
 */

/** CPU features usable by this process (the CPU has them and the OS saves their registers). */
export interface CpuFeatures {
  readonly avx2: boolean;
  readonly fma: boolean;
  readonly avx512f: boolean;
  readonly avx512bw: boolean;
  readonly avx512vl: boolean;
  /** AVX-512 VNNI (VPDPBUSD on 512-bit registers): the INT8 GEMM fast path. */
  readonly avx512vnni: boolean;
  /** The 256-bit VEX encoding of VNNI, on CPUs without AVX-512. */
  readonly avxvnni: boolean;
}

export interface CudaDevice {
  /** e.g. "NVIDIA H100 80GB HBM3" */
  readonly name: string;
  /** "major.minor", e.g. "9.0" for sm_90. */
  readonly computeCapability: string;
  readonly totalMemoryBytes: number;
}

export interface CudaInfo {
  /** The addon was built with nvcc (cudart linked statically). */
  readonly compiledIn: boolean;
  /** Usable devices; 0 means the CPU path. Equals devices.length. */
  readonly deviceCount: number;
  /** Indexed by CUDA device ordinal. */
  readonly devices: readonly CudaDevice[];
  /** Why there are no devices (no CUDA in the build, no driver, no GPU); "" when there are. */
  readonly error: string;
}

export interface NativeBinding {
  /** package.json version the addon was built from. */
  readonly version: string;
  /** Detected once per process. */
  cpuFeatures(): CpuFeatures;
  /** Queried once per process (the first call initialises the CUDA runtime). */
  cuda(): CudaInfo;
  /**
   * Ends the process now with `code` (C `_Exit`): no exit handlers, no thread teardown. Only for
   * a shutdown whose grace period is over while native work (an ONNX Runtime run) is in flight.
   */
  exitImmediately(code: number): never;
}

/** Export names the loader checks for, so a stale build is reported instead of half-working. */
export const NATIVE_EXPORTS = ['version', 'cpuFeatures', 'cuda', 'exitImmediately'] as const satisfies readonly (
  keyof NativeBinding
)[];
