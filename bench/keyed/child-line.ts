/**
 * The lines the keyed benchmark's processes write to stdout for the driver (shared/child-line.ts
 * has the protocol): an instance's "instance" line once it serves, and each measuring process's
 * results. Also what an instance answers on its memory probe subject (probe-subject.ts).
 */
import { childLineParser } from "../shared/child-line.ts";

/** An actor instance serves: its id in discovery and its runtime. */
export interface InstanceLine {
  readonly kind: "instance";
  readonly id: string;
  readonly runtime: string;
}

/** p50 and p99 (nearest rank) of a set of call latencies, in µs. */
export interface Latency {
  readonly calls: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

/** One method measured at 1 call in flight and at N in flight. */
export interface MethodResult {
  readonly method: "read" | "add";
  /** One call after the other, after a warm-up. */
  readonly sequential: Latency;
  /** N calls always in flight: the calls that completed in the measured window, and their latencies. */
  readonly concurrent: Latency & { readonly inFlight: number; readonly callsPerSecond: number };
  /**
   * CPU time per call at N in flight (warm-up and window together), in µs: of the instance
   * serving them, and of the calling process.
   */
  readonly instanceCpuUsPerCall: number;
  readonly clientCpuUsPerCall: number;
}

export interface CallsLine {
  readonly kind: "calls";
  readonly runtime: string;
  readonly methods: readonly MethodResult[];
}

/** First calls to keys never active here, beside calls to an active key (1 in flight). */
export interface ActivationLine {
  readonly kind: "activation";
  readonly runtime: string;
  /** A key never seen: no stored state (the load finds nothing). */
  readonly coldEmpty: Latency;
  /** A key whose state is stored and which is not active: loaded from KV. */
  readonly coldStored: Latency;
  /** A key whose actor is active. */
  readonly active: Latency;
}

/** An instance's memory after a forced collection, as its probe answers it. */
export interface MemorySample {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** The JS heap the runtime holds, used or not. */
  readonly heapTotalBytes: number;
  /** Memory outside the JS heap that the runtime accounts for (buffers, typed arrays). */
  readonly externalBytes: number;
  /** How the instance collected before measuring (force-gc.ts). */
  readonly gc: string;
}

/** The keyed host's count of active actors at the time of a sample. */
export type CountedSample = MemorySample & { readonly active: number };

export interface MemoryLine {
  readonly kind: "memory";
  readonly runtime: string;
  /** Right after start, before any call. */
  readonly fresh: CountedSample;
  /** After the warm-up's keys were called and passivated: the baseline of the figures below. */
  readonly baseline: CountedSample;
  /** With `activeKeys` actors active. */
  readonly active: CountedSample & { readonly keys: number };
  /** After `passivatedKeys` more keys were each called once and then passivated. */
  readonly passivated: CountedSample & { readonly keys: number };
}

export const parseInstanceLine = childLineParser<InstanceLine>(["instance"]);
export const parseCallsLine = childLineParser<CallsLine>(["calls"]);
export const parseActivationLine = childLineParser<ActivationLine>(["activation"]);
export const parseMemoryLine = childLineParser<MemoryLine>(["memory"]);
