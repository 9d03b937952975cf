/**
 * The driver's options: a documented interface, its defaults, and one parser from argv.
 *
 *   --runtimes bun,node   runtimes under test (bun, node, deno)
 *   --rounds 3            rounds; each runs every peer once, in a rotated order
 *   --peers raw,mux,connect,troupe,policies
 *   --sizes 100,4096      encoded EchoRequest sizes in bytes
 *   --calls 5000          sequential calls timed per size (after --warmup-calls)
 *   --warmup-calls 1000
 *   --in-flight 64        concurrent calls outstanding
 *   --seconds 3           concurrent measured window per size (after --warmup-seconds)
 *   --warmup-seconds 1
 *   --json <file>         also write every round's raw results there
 */
import { parseArgs } from "node:util";
import { listFlag, positiveFlag, sizesFlag } from "../shared/flags.ts";
import { isPeerName, PEER_NAMES, type PeerName } from "./peers.ts";
import { isRuntimeName, type RuntimeName } from "./runtimes.ts";

export interface RunOptions {
  readonly runtimes: readonly RuntimeName[];
  readonly rounds: number;
  readonly peers: readonly PeerName[];
  readonly sizes: readonly number[];
  readonly calls: number;
  readonly warmupCalls: number;
  readonly inFlight: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Where to write the raw results as JSON; empty for nowhere. */
  readonly jsonFile: string;
}

export const defaultRunOptions: RunOptions = {
  runtimes: ["bun", "node"],
  rounds: 3,
  peers: PEER_NAMES,
  sizes: [100, 4096],
  calls: 5000,
  warmupCalls: 1000,
  inFlight: 64,
  seconds: 3,
  warmupSeconds: 1,
  jsonFile: "",
};

export function parseRunOptions(args: readonly string[]): RunOptions {
  const text = { type: "string" } as const;
  const { values } = parseArgs({
    args: [...args],
    options: {
      runtimes: text,
      rounds: text,
      peers: text,
      sizes: text,
      calls: text,
      "warmup-calls": text,
      "in-flight": text,
      seconds: text,
      "warmup-seconds": text,
      json: text,
    },
  });
  const d = defaultRunOptions;
  return {
    runtimes: listFlag("runtimes", values.runtimes, d.runtimes, isRuntimeName),
    rounds: Math.round(positiveFlag("rounds", values.rounds, d.rounds)),
    peers: listFlag("peers", values.peers, d.peers, isPeerName),
    sizes: sizesFlag(values.sizes, d.sizes),
    calls: Math.round(positiveFlag("calls", values.calls, d.calls)),
    warmupCalls: Math.round(positiveFlag("warmup-calls", values["warmup-calls"], d.warmupCalls)),
    inFlight: Math.round(positiveFlag("in-flight", values["in-flight"], d.inFlight)),
    seconds: positiveFlag("seconds", values.seconds, d.seconds),
    warmupSeconds: positiveFlag("warmup-seconds", values["warmup-seconds"], d.warmupSeconds),
    jsonFile: values.json ?? d.jsonFile,
  };
}
