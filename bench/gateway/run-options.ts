/**
 * The driver's options: a documented interface, its defaults, and one parser from argv. Besides
 * the common flags (shared/common-run-options.ts: --runtimes, --rounds, --peers, --seconds,
 * --warmup-seconds, --json; here --runtimes are those of the servers under test):
 *
 *   --peers gateway,hono,connect (also: moleculer, nestjs; on Bun only: gateway-bun-serve, hono-bun-serve)
 *   --concurrency 64           HTTP/1.1 connections, or HTTP/2 streams, kept busy
 *   --sessions 4               HTTP/2 sessions the Connect load spreads its streams over
 *   --seconds 5                measured window (after --warmup-seconds)
 */
import { type CommonRunOptions, commonFlags } from "../shared/common-run-options.ts";
import { countFlag } from "../shared/flags.ts";
import { parseFlags } from "../shared/parse-flags.ts";
import { BUN_SERVE_PEERS, FRAMEWORK_PEERS, isPeerName, PEER_NAMES, type PeerName } from "./peers.ts";

export interface RunOptions extends CommonRunOptions<PeerName> {
  readonly concurrency: number;
  readonly sessions: number;
}

export const defaultRunOptions: RunOptions = {
  runtimes: ["bun", "node"],
  rounds: 3,
  // The frameworks (moleculer, nestjs) add a minute a round, the what-if peers run on Bun only:
  // asked for by name.
  peers: PEER_NAMES.filter((peer) => !FRAMEWORK_PEERS.includes(peer) && !BUN_SERVE_PEERS.includes(peer)),
  concurrency: 64,
  sessions: 4,
  seconds: 5,
  warmupSeconds: 1,
  jsonFile: "",
  chartFile: "",
};

export function parseRunOptions(args: readonly string[]): RunOptions {
  const flags = {
    ...commonFlags(isPeerName),
    concurrency: countFlag("concurrency"),
    sessions: countFlag("sessions"),
  };
  return parseFlags(args, flags, defaultRunOptions);
}
