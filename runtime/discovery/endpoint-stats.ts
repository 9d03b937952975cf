/**
 * Request statistics of one $SRV endpoint (NATS ADR-32 `EndpointStats`), recorded by the host on
 * every RPC. The caller measures the duration itself, from the moment a request arrives until
 * its reply (or the end of its stream) is sent, so asynchronous handlers are measured in full:
 *
 *   const started = performance.now();
 *   …
 *   stats.record((performance.now() - started) * 1e6, error?.message);
 */

/** The numbers ADR-32 reports for an endpoint; times are whole nanoseconds. */
export interface EndpointStatsSnapshot {
  readonly num_requests: number;
  readonly num_errors: number;
  /** The last error's message, or "" when there has been none. */
  readonly last_error: string;
  /** Total time spent handling requests, in nanoseconds. */
  readonly processing_time: number;
  /** `processing_time / num_requests`, truncated; 0 when there has been no request. */
  readonly average_processing_time: number;
}

export interface EndpointStatsRecorder {
  /**
   * Counts one request that took `durationNs` nanoseconds; an `error` (its message) counts it as
   * failed too. O(1) and allocation-free: it runs on every call.
   */
  record(durationNs: number, error?: string): void;
  snapshot(): EndpointStatsSnapshot;
  /** Back to zero (ADR-32 `reset()`). */
  reset(): void;
}

// Slots of the counter array.
const REQUESTS = 0;
const ERRORS = 1;
const TOTAL_NS = 2;

export function createEndpointStats(): EndpointStatsRecorder {
  // The counters live in a Float64Array: doubles stored unboxed, so record() allocates nothing
  // on any engine (a fractional number kept in a closure variable is a heap number in V8).
  const counters = new Float64Array(3);
  let lastError = "";
  return {
    record(durationNs, error) {
      counters[REQUESTS] = (counters[REQUESTS] as number) + 1;
      // A negative or NaN duration (a caller's bug) must not poison the totals for good.
      if (durationNs > 0) counters[TOTAL_NS] = (counters[TOTAL_NS] as number) + durationNs;
      if (error !== undefined) {
        counters[ERRORS] = (counters[ERRORS] as number) + 1;
        lastError = error;
      }
    },
    snapshot() {
      const requests = counters[REQUESTS] as number;
      const total = Math.trunc(counters[TOTAL_NS] as number);
      return {
        num_requests: requests,
        num_errors: counters[ERRORS] as number,
        last_error: lastError,
        processing_time: total,
        average_processing_time: requests === 0 ? 0 : Math.trunc(total / requests),
      };
    },
    reset() {
      counters.fill(0);
      lastError = "";
    },
  };
}
