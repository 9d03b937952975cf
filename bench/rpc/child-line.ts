/**
 * The line the client process writes to stdout for the driver: its measurements
 * (shared/child-line.ts has the protocol and the servers' "ready" line).
 */
import { childLineParser } from "../shared/child-line.ts";

/** What one client measured for one payload size. */
export interface SizeResult {
  /** The encoded EchoRequest's size in bytes (the NATS payload; the HTTP/2 request body). */
  readonly sizeBytes: number;
  /** Calls timed one at a time, after warm-up. */
  readonly sequentialCalls: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** Calls completed in the measured window with `inFlight` calls always outstanding. */
  readonly concurrentCalls: number;
  readonly inFlight: number;
  readonly callsPerSecond: number;
}

/** A client's measurements. */
export interface ResultLine {
  readonly kind: "result";
  readonly runtime: string;
  readonly sizes: readonly SizeResult[];
}

export const parseResultLine = childLineParser<ResultLine>(["result"]);
