/**
 * The options every benchmark driver has, and their flags:
 *
 *   --runtimes bun,node   runtimes under test (bun, node, deno)
 *   --rounds 3            rounds; each runs every peer once, in a rotated order
 *   --peers …             the peers to measure, by name
 *   --seconds …           the measured window (after --warmup-seconds)
 *   --warmup-seconds 1
 *   --json <file>         also write every measurement's raw results there
 *   --chart <file>        also draw the main table as an SVG bar chart there
 */
import { chartFlag, countFlag, jsonFlag, namesFlag, numberFlag } from "./flags.ts";
import type { Flags } from "./parse-flags.ts";
import { isRuntimeName, type RuntimeName } from "./runtimes.ts";

export interface CommonRunOptions<Peer extends string> {
  readonly runtimes: readonly RuntimeName[];
  readonly rounds: number;
  readonly peers: readonly Peer[];
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Where to write the raw results as JSON; empty for nowhere. */
  readonly jsonFile: string;
  /** Where to write the main table's chart as SVG; empty for nowhere. */
  readonly chartFile: string;
}

/** The flags of the common options, for a benchmark whose peer names `isPeerName` accepts. */
export function commonFlags<Peer extends string>(
  isPeerName: (name: string) => name is Peer,
): Flags<CommonRunOptions<Peer>> {
  return {
    runtimes: namesFlag("runtimes", isRuntimeName),
    rounds: countFlag("rounds"),
    peers: namesFlag("peers", isPeerName),
    seconds: numberFlag("seconds"),
    warmupSeconds: numberFlag("warmup-seconds"),
    jsonFile: jsonFlag,
    chartFile: chartFlag,
  };
}
