// Scheduling priority of compute threads.
//
// The event loop that reads requests, refuses what the queue cannot hold and writes answers must
// not wait behind the threads that compute batches: under overload those always have work. So
// the threads that only compute batches (native executor threads, the ONNX Runtime worker
// threads) lower their own priority by a nice increment when they start; they still get every
// cycle the event loop does not want. An engine's pool workers take the nice value of the thread
// that hands them work (ThreadPool::Run): a worker less favoured than its caller is woken onto a
// busy core and not scheduled for milliseconds, which ruins a parallel GEMM, and a worker more
// favoured than its caller would undo the point.
//
// The increment comes from SLUICE_COMPUTE_NICE (0 to 19; 0 keeps compute at the event loop's
// priority), default kDefaultComputeNice. Linux only (per-thread nice); a no-op elsewhere.
#pragma once

namespace sluice {

inline constexpr int kDefaultComputeNice = 5;

// The increment in force: SLUICE_COMPUTE_NICE when it is an integer in [0, 19], else the default.
int ComputeNiceIncrement();

// Lowers the calling thread's priority by ComputeNiceIncrement(), once per thread (later calls
// are free). Failure (a sandbox that forbids it) leaves the priority as it was.
void LowerThreadPriorityForCompute();

// The calling thread's nice value as this file last saw or set it (asked of the OS once per
// thread; 0 off Linux).
int ThreadNice();

// Raises the calling thread's nice value to `nice` when it is below it; never lowers it (an
// unprivileged process may not). Free when nothing changes.
void RaiseThreadNiceTo(int nice);

}  // namespace sluice
