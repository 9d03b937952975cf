/**
 * The lines the adoption benchmark's measuring processes write to stdout for the driver
 * (shared/child-line.ts has the protocol): the discovery process's timings and the events
 * process's latencies. The actor processes write none: the driver watches `$SRV` for them.
 */
import { childLineParser } from "../shared/child-line.ts";

/** One discovery of every instance. */
export interface DiscoveryRun {
  /** Instances `discoverServing` returned. */
  readonly found: number;
  /** From asking to `discoverServing` returning them (including its wait for stragglers). */
  readonly discoverMs: number;
  /** From asking `$SRV.INFO` to the reply of the last instance arriving. */
  readonly lastReplyMs: number;
}

export interface DiscoveryLine {
  readonly kind: "discovery";
  readonly runtime: string;
  readonly instances: number;
  readonly runs: readonly DiscoveryRun[];
}

export interface EventsResult {
  /** Events per second asked for, and for how long they were measured (after the warm-up). */
  readonly rate: number;
  readonly seconds: number;
  /** Events published in the measured window, and how many of them were handled. */
  readonly measured: number;
  readonly handled: number;
  /** Events whose publish was not acknowledged (all of them, warm-up included). */
  readonly publishFailures: number;
  /** Events published per second in fact, over the measured window. */
  readonly achievedRate: number;
  /** From each event's scheduled publish time to its handler running. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** From each event's scheduled publish time to the stream's acknowledgement of it. */
  readonly ackP50Ms: number;
  readonly ackP99Ms: number;
  /** CPU time (user and system) the process spent per event, publishing and handling it, in µs. */
  readonly cpuUsPerEvent: number;
}

export interface EventsLine extends EventsResult {
  readonly kind: "events";
  readonly runtime: string;
}

export const parseDiscoveryLine = childLineParser<DiscoveryLine>(["discovery"]);
export const parseEventsLine = childLineParser<EventsLine>(["events"]);
