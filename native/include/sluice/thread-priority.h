// Scheduling priority of compute threads.
//
// The event loop that reads requests, refuses what the queue cannot hold and writes answers must
// not wait behind the threads that compute batches: under overload those always have work, and
// an event loop starved of CPU leaves requests unread in socket buffers for seconds instead of
// refusing them at once. So every compute thread (native executor threads, engine pool workers,
// the ONNX Runtime worker threads) lowers its own priority by a nice increment when it starts;
// it still gets every cycle the event loop does not want.
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

}  // namespace sluice
