/**
 * What one adoption measurement gives: the starts of the actor process, the discoveries of the
 * instances, or the latencies of events at a steady rate.
 */
import type { Measurement as MeasurementOf, MeasurementRun as Run } from "../shared/measurement.ts";
import type { DiscoveryRun, EventsResult } from "./child-line.ts";
import type { MeasurementName } from "./measurements.ts";

/** The measurements that start a process and time it. */
export type StartMeasurement = "startup" | "bundled" | "bare";

/** One start of the actor process. */
export interface StartResult {
  /** From spawning the process to its first answer to `$SRV.PING`. */
  readonly readyMs: number;
  /** Its resident memory once idle (VmRSS), in MB of 10⁶ bytes. */
  readonly rssMB: number;
}

export type AdoptionResult =
  | { readonly measurement: StartMeasurement; readonly starts: readonly StartResult[] }
  | { readonly measurement: "discovery"; readonly instances: number; readonly runs: readonly DiscoveryRun[] }
  | { readonly measurement: "events"; readonly events: EventsResult };

export type MeasurementRun = Run<{ readonly result: AdoptionResult }>;

export type Measurement = MeasurementOf<MeasurementName, { readonly run: MeasurementRun }>;
