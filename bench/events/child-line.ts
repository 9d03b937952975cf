/**
 * The line the measuring process writes to stdout for the driver: its measurements
 * (shared/child-line.ts has the protocol).
 */
import { childLineParser } from "../shared/child-line.ts";

/** What one process measured for one payload size. */
export interface EventsResult {
  /** The encoded EchoRequest's size in bytes (the event's body). */
  readonly sizeBytes: number;
  readonly inFlight: number;
  /** Publishes acknowledged in the measured window, after warm-up. */
  readonly published: number;
  readonly publishSeconds: number;
  readonly publishesPerSecond: number;
  /** Events in the pre-filled stream; the first `consumeWarmup` are not timed. */
  readonly consumed: number;
  readonly consumeWarmup: number;
  /** From the warm-up's last event to the server holding every ack. */
  readonly consumeSeconds: number;
  readonly consumedPerSecond: number;
}

export interface ResultLine {
  readonly kind: "result";
  readonly runtime: string;
  readonly result: EventsResult;
}

export const parseResultLine = childLineParser<ResultLine>(["result"]);
