/**
 * The two load shapes of the benchmarks (an RPC client's Echo calls, an events publisher's
 * publishes), timed with `performance.now()`:
 * - sequential: one call in flight; each call's latency after a warm-up → p50 and p99;
 * - concurrent: a closed loop keeping `inFlight` calls outstanding (each worker starts its next
 *   call when the last one returns); completions inside the measured window, which follows a
 *   warm-up, → calls per second.
 */
import { percentile } from "./percentile.ts";

/** One call (an Echo call, a publish); resolves when it has completed whole. */
export type TimedCall = () => Promise<void>;

export interface SequentialResult {
  readonly calls: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

export async function runSequential(
  call: TimedCall,
  warmupCalls: number,
  calls: number,
): Promise<SequentialResult> {
  for (let i = 0; i < warmupCalls; i++) await call();
  const latencies = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await call();
    latencies[i] = performance.now() - started;
  }
  latencies.sort();
  return {
    calls,
    p50Us: percentile(latencies, 50) * 1000,
    p99Us: percentile(latencies, 99) * 1000,
  };
}

export interface ConcurrentResult {
  readonly calls: number;
  readonly inFlight: number;
  readonly callsPerSecond: number;
}

export async function runConcurrent(
  call: TimedCall,
  inFlight: number,
  warmupSeconds: number,
  seconds: number,
): Promise<ConcurrentResult> {
  const windowStart = performance.now() + warmupSeconds * 1000;
  const windowEnd = windowStart + seconds * 1000;
  let counted = 0;
  const worker = async () => {
    for (;;) {
      await call();
      const now = performance.now();
      if (now >= windowEnd) return;
      if (now >= windowStart) counted++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { calls: counted, inFlight, callsPerSecond: counted / seconds };
}
