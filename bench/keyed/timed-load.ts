/**
 * The load shapes of the keyed benchmark, timed with `performance.now()`. As in
 * shared/workloads.ts, but every call is timed at N in flight too (the issue asks for latency
 * under load), and each call gets its index, so that the caller spreads the calls over its keys:
 * - `sequential`: one call after the other, after a warm-up → p50, p99;
 * - `concurrent`: a closed loop of `inFlight` workers, each starting its next call when its last
 *   returned; the calls that complete inside the measured window (after the warm-up) → calls/s,
 *   and their p50, p99; and how many calls it made in all (warm-up included).
 */
import { percentile } from "../shared/percentile.ts";
import type { Latency } from "./child-line.ts";

/** Call number `i`; resolves when it has completed whole. */
export type IndexedCall = (i: number) => Promise<unknown>;

/** p50 and p99 of `latenciesMs` (in ms), in µs. */
export function latencyOf(latenciesMs: Float64Array): Latency {
  const sorted = latenciesMs.slice().sort();
  return {
    calls: sorted.length,
    p50Us: percentile(sorted, 50) * 1000,
    p99Us: percentile(sorted, 99) * 1000,
  };
}

export async function sequential(call: IndexedCall, warmupCalls: number, calls: number): Promise<Latency> {
  for (let i = 0; i < warmupCalls; i++) await call(i);
  const latencies = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await call(warmupCalls + i);
    latencies[i] = performance.now() - started;
  }
  return latencyOf(latencies);
}

export async function concurrent(
  call: IndexedCall,
  inFlight: number,
  warmupSeconds: number,
  seconds: number,
): Promise<
  Latency & { readonly inFlight: number; readonly callsPerSecond: number; readonly allCalls: number }
> {
  const windowStart = performance.now() + warmupSeconds * 1000;
  const windowEnd = windowStart + seconds * 1000;
  let latencies = new Float64Array(1 << 16);
  let counted = 0;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const started = performance.now();
      await call(next++);
      const now = performance.now();
      if (now >= windowEnd) return;
      if (now < windowStart) continue;
      if (counted === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[counted++] = now - started;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return {
    ...latencyOf(latencies.subarray(0, counted)),
    inFlight,
    callsPerSecond: counted / seconds,
    allCalls: next,
  };
}

/** Runs `call(i)` for i from 0 to `count` - 1 with `inFlight` calls outstanding, untimed. */
export async function spread(call: IndexedCall, count: number, inFlight: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) await call(i);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
}
