/**
 * Request statistics of one $SRV endpoint (NATS ADR-32 `EndpointStats`), recorded by the host on
 * every RPC. The caller measures the duration itself, from the moment a request arrives until
 * its reply (or the end of its stream) is sent, so asynchronous handlers are measured in full:
 *
 *   const started = performance.now();
 *   …
 *   stats.begin();
 *   …
 *   stats.record((performance.now() - started) * 1e6, error);
 */
import { Code, type ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { createLatencyHistogram, type LatencyHistogramSnapshot } from "./latency-histogram.ts";

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

/**
 * What Troupe adds in each endpoint's `data` field of `$SRV.STATS` (beyond ADR-32's averages;
 * docs/adr/0014-tracing-and-metrics.md): requests by outcome, calls in flight, and the latency
 * histogram with estimated quantiles.
 */
export interface EndpointMetricsSnapshot {
  /** Requests by outcome: `ok` and the Connect code names (`not_found`, `internal`, …). */
  readonly requests_by_code: Readonly<Record<string, number>>;
  /** Calls accepted and not answered yet (streams until they end). */
  readonly in_flight: number;
  readonly latency: LatencyHistogramSnapshot;
}

export interface EndpointStatsRecorder {
  /** A call was accepted: it is in flight until its record(). */
  begin(): void;
  /**
   * Counts one request that took `durationNs` nanoseconds and ends it in flight; an `error` (the
   * ConnectError, or its message when the code is not known) counts it as failed too. O(1) and
   * allocation-free: it runs on every call.
   */
  record(durationNs: number, error?: ConnectError | string): void;
  snapshot(): EndpointStatsSnapshot;
  /** Outcomes, in-flight count and latency histogram: the endpoint's `data` in STATS. */
  metrics(): EndpointMetricsSnapshot;
  /** Back to zero (ADR-32 `reset()`); calls in flight stay in flight. */
  reset(): void;
}

// Slots of the counter array.
const REQUESTS = 0;
const ERRORS = 1;
const TOTAL_NS = 2;
const IN_FLIGHT = 3;
/** Errors without a known code (a message only) are counted as `unknown` (Connect code 2). */
const UNKNOWN = Code.Unknown;
/** Connect codes are 1..16; slot 0 is unused (success is requests − errors). */
const CODE_SLOTS = 17;

export function createEndpointStats(): EndpointStatsRecorder {
  // The counters live in a Float64Array: doubles stored unboxed, so record() allocates nothing
  // on any engine (a fractional number kept in a closure variable is a heap number in V8).
  const counters = new Float64Array(4);
  const errorsByCode = new Float64Array(CODE_SLOTS);
  const latency = createLatencyHistogram();
  let lastError = "";
  return {
    begin() {
      counters[IN_FLIGHT] = (counters[IN_FLIGHT] as number) + 1;
    },
    record(durationNs, error) {
      counters[REQUESTS] = (counters[REQUESTS] as number) + 1;
      if ((counters[IN_FLIGHT] as number) > 0) counters[IN_FLIGHT] = (counters[IN_FLIGHT] as number) - 1;
      // A negative or NaN duration (a caller's bug) must not poison the totals for good.
      if (durationNs > 0) counters[TOTAL_NS] = (counters[TOTAL_NS] as number) + durationNs;
      latency.observe(durationNs / 1e9);
      if (error !== undefined) {
        counters[ERRORS] = (counters[ERRORS] as number) + 1;
        const code = typeof error === "string" ? UNKNOWN : error.code;
        const slot = code > 0 && code < CODE_SLOTS ? code : UNKNOWN;
        errorsByCode[slot] = (errorsByCode[slot] as number) + 1;
        lastError = typeof error === "string" ? error : error.message;
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
    metrics() {
      const requestsByCode: Record<string, number> = {
        ok: (counters[REQUESTS] as number) - (counters[ERRORS] as number),
      };
      for (let code = 1; code < CODE_SLOTS; code++) {
        const n = errorsByCode[code] as number;
        if (n > 0) requestsByCode[codeToString(code as Code)] = n;
      }
      return {
        requests_by_code: requestsByCode,
        in_flight: counters[IN_FLIGHT] as number,
        latency: latency.snapshot(),
      };
    },
    reset() {
      const inFlight = counters[IN_FLIGHT] as number;
      counters.fill(0);
      counters[IN_FLIGHT] = inFlight;
      errorsByCode.fill(0);
      latency.reset();
      lastError = "";
    },
  };
}
