/**
 * What one keyed measurement gives: the calls of one service, the activation latencies, the
 * memory samples of one instance, or the SIGKILLs of one move measurement.
 */
import type { Measurement as MeasurementOf, MeasurementRun as Run } from "../shared/measurement.ts";
import type { ActivationLine, MemoryLine, MethodResult } from "./child-line.ts";
import type { MeasurementName } from "./measurements.ts";

/** One SIGKILL of a partition owner, in ms after it. */
export interface KillResult {
  /** The partitions whose lease the victim held. */
  readonly victimPartitions: number;
  /** Of those, how many another instance took. */
  readonly moved: number;
  /** Until every partition had answered a call started after the kill. */
  readonly answeredMs: number;
  /** Until the last of the victim's partitions was taken by another instance. */
  readonly leaseMs: number | null;
  /** When the victim's membership key expired; null when the watch did not see it. */
  readonly memberGoneMs: number | null;
  /** Calls that failed after the kill (over every partition). */
  readonly failures: number;
}

export type KeyedResult =
  | { readonly measurement: "calls"; readonly methods: readonly MethodResult[] }
  | ({ readonly measurement: "activation" } & Omit<ActivationLine, "kind" | "runtime">)
  | ({ readonly measurement: "memory" } & Omit<MemoryLine, "kind" | "runtime">)
  | {
      readonly measurement: "move";
      readonly leaseMs: number;
      readonly renewMs: number;
      readonly kills: readonly KillResult[];
    };

export type MeasurementRun = Run<{ readonly result: KeyedResult }>;

export type Measurement = MeasurementOf<MeasurementName, { readonly run: MeasurementRun }>;
