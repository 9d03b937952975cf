/**
 * What the benchmarks measure and report: one measurement is one peer on one runtime in one
 * round (for some benchmarks, of one payload size), and gave the benchmark's own results with
 * the version of the runtime they were measured on, or why there are none.
 */
import type { RuntimeName } from "./runtimes.ts";

/** The server, client or measuring process crashed, timed out or answered wrongly. */
export interface FailedRun {
  readonly kind: "failed";
  readonly reason: string;
}

export type MeasurementRun<Results> =
  | ({ readonly kind: "result"; readonly runtimeVersion: string } & Results)
  | FailedRun;

/** Where a measurement runs: the runtime and peer under test, the nats-server, the repo's root. */
export interface Site<Peer extends string> {
  readonly runtime: RuntimeName;
  readonly peer: Peer;
  readonly natsUrl: string;
  readonly repoRoot: string;
}

/** What a benchmark's measurement adds to where it was taken: its run, maybe its payload size. */
export interface Measured {
  /** The payload size, for a benchmark that measures each size in a measurement of its own. */
  readonly sizeBytes?: number;
  readonly run: MeasurementRun<object>;
}

/** One measurement, as the driver logs it, the tables read it and the JSON report lists it. */
export type Measurement<Peer extends string, Part extends Measured> = {
  readonly round: number;
  readonly runtime: RuntimeName;
  readonly peer: Peer;
} & Part;
