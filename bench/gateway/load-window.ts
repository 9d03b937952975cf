/**
 * The measured window of a load run: responses that complete after the warm-up and before the
 * end are counted and their latencies kept; the percentiles are taken from those alone.
 */
import { percentile } from "../shared/percentile.ts";
import type { LoadResult } from "./child-line.ts";

export interface LoadWindow {
  /** Records one completed response that took `latencyMs`; `ok` false counts it as an error. */
  record(latencyMs: number, ok: boolean): void;
  /** Counts a failed request (connection error, wrong answer) wherever it happens. */
  fail(): void;
  /** True once the window has closed: the load generator stops. */
  readonly over: boolean;
  result(concurrency: number): LoadResult;
}

export function loadWindow(warmupSeconds: number, seconds: number): LoadWindow {
  const start = performance.now() + warmupSeconds * 1000;
  const end = start + seconds * 1000;
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  return {
    record(latencyMs, ok) {
      if (!ok) errors++;
      const now = performance.now();
      if (now < start || now >= end || !ok) return;
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = latencyMs;
    },
    fail() {
      errors++;
    },
    get over() {
      return performance.now() >= end;
    },
    result(concurrency) {
      const sorted = latencies.subarray(0, count).sort();
      return {
        concurrency,
        requests: count,
        seconds,
        requestsPerSecond: count / seconds,
        p50Us: percentile(sorted, 50) * 1000,
        p99Us: percentile(sorted, 99) * 1000,
        errors,
      };
    },
  };
}
