/**
 * The line the load generator writes to stdout for the driver: what it measured
 * (shared/child-line.ts has the protocol and the servers' "ready" line).
 */
import { childLineParser } from "../shared/child-line.ts";

/** What one load generator measured against one peer. */
export interface LoadResult {
  /** Connections (HTTP/1.1) or streams (HTTP/2) kept busy. */
  readonly concurrency: number;
  /** Responses completed in the measured window, after warm-up. */
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Latency of the responses of the measured window, nearest rank, in µs. */
  readonly p50Us: number;
  readonly p99Us: number;
  /** Responses that were not 200 with the expected body, or connection errors (must be 0). */
  readonly errors: number;
}

export interface ResultLine {
  readonly kind: "result";
  readonly result: LoadResult;
}

export const parseResultLine = childLineParser<ResultLine>(["result"]);
