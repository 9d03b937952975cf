/**
 * The driver's options: a documented interface, its defaults, and one parser from argv. Besides
 * the common flags (shared/common-run-options.ts: --runtimes, --rounds, --peers, --seconds,
 * --warmup-seconds, --json, --chart):
 *
 *   --peers startup,discovery,events   the measurements to run
 *   --starts 3             actor processes started (one after the other) per round
 *   --idle-seconds 2       how long a started actor idles before its RSS is read
 *   --instances 1000       service instances discovery must find
 *   --processes 4          processes serving them, each instance on its own connection
 *   --discoveries 3        discoveries timed per round (after one warm-up)
 *   --event-rate 5000      events published per second, paced (open loop)
 *   --seconds 5            events measured for this long (after --warmup-seconds)
 */
import { type CommonRunOptions, commonFlags } from "../shared/common-run-options.ts";
import { countFlag, numberFlag } from "../shared/flags.ts";
import { type Flags, parseFlags } from "../shared/parse-flags.ts";
import { isMeasurementName, MEASUREMENT_NAMES, type MeasurementName } from "./measurements.ts";

export interface RunOptions extends CommonRunOptions<MeasurementName> {
  readonly starts: number;
  readonly idleSeconds: number;
  readonly instances: number;
  readonly processes: number;
  readonly discoveries: number;
  readonly eventRate: number;
}

export const defaultRunOptions: RunOptions = {
  runtimes: ["bun", "node"],
  rounds: 3,
  peers: MEASUREMENT_NAMES,
  starts: 3,
  idleSeconds: 2,
  instances: 1000,
  processes: 4,
  discoveries: 3,
  eventRate: 5000,
  seconds: 5,
  warmupSeconds: 1,
  jsonFile: "",
  chartFile: "",
};

export function parseRunOptions(args: readonly string[]): RunOptions {
  const flags = {
    ...commonFlags(isMeasurementName),
    starts: countFlag("starts"),
    idleSeconds: numberFlag("idle-seconds"),
    instances: countFlag("instances"),
    processes: countFlag("processes"),
    discoveries: countFlag("discoveries"),
    eventRate: numberFlag("event-rate"),
  } satisfies Flags<RunOptions>;
  return parseFlags(args, flags, defaultRunOptions);
}
