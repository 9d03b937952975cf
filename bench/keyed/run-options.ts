/**
 * The driver's options: a documented interface, its defaults, and one parser from argv. Besides
 * the common flags (shared/common-run-options.ts: --runtimes, --rounds, --peers, --seconds,
 * --warmup-seconds, --json, --chart):
 *
 *   --peers plain,keyed,activation,memory,move,move-2s   the measurements to run
 *   --keys 1000             keys the calls go round (plain and keyed)
 *   --in-flight 64          calls outstanding in the concurrent window
 *   --seconds 3             the concurrent window per method (after --warmup-seconds 1)
 *   --calls 5000            calls timed one after the other per method (after --warmup-calls 1000)
 *   --payload-bytes 80      the payload field of every request, returned in the response
 *   --activations 1000      first calls timed per kind (no stored state, stored state, active)
 *   --active-keys 10000     actors active when the memory is measured
 *   --passivated-keys 100000  keys called once each, then passivated
 *   --idle-ms 10000         the memory instance's idleMs (passivation after that long)
 *   --kills 3               owners SIGKILLed per move measurement
 */
import { type CommonRunOptions, commonFlags } from "../shared/common-run-options.ts";
import { countFlag } from "../shared/flags.ts";
import { type Flags, parseFlags } from "../shared/parse-flags.ts";
import { isMeasurementName, MEASUREMENT_NAMES, type MeasurementName } from "./measurements.ts";

export interface RunOptions extends CommonRunOptions<MeasurementName> {
  readonly keys: number;
  readonly inFlight: number;
  readonly calls: number;
  readonly warmupCalls: number;
  readonly payloadBytes: number;
  readonly activations: number;
  readonly activeKeys: number;
  readonly passivatedKeys: number;
  readonly idleMs: number;
  readonly kills: number;
}

export const defaultRunOptions: RunOptions = {
  runtimes: ["bun", "node"],
  rounds: 3,
  peers: MEASUREMENT_NAMES,
  keys: 1000,
  inFlight: 64,
  seconds: 3,
  warmupSeconds: 1,
  calls: 5000,
  warmupCalls: 1000,
  payloadBytes: 80,
  activations: 1000,
  activeKeys: 10_000,
  passivatedKeys: 100_000,
  idleMs: 10_000,
  kills: 3,
  jsonFile: "",
  chartFile: "",
};

export function parseRunOptions(args: readonly string[]): RunOptions {
  const flags = {
    ...commonFlags(isMeasurementName),
    keys: countFlag("keys"),
    inFlight: countFlag("in-flight"),
    calls: countFlag("calls"),
    warmupCalls: countFlag("warmup-calls"),
    payloadBytes: countFlag("payload-bytes"),
    activations: countFlag("activations"),
    activeKeys: countFlag("active-keys"),
    passivatedKeys: countFlag("passivated-keys"),
    idleMs: countFlag("idle-ms"),
    kills: countFlag("kills"),
  } satisfies Flags<RunOptions>;
  return parseFlags(args, flags, defaultRunOptions);
}
