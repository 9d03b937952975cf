/**
 * The driver's options: a documented interface, its defaults, and one parser from argv.
 *
 *   --runtimes bun,node   runtimes under test (bun, node, deno)
 *   --rounds 3            rounds; each runs every peer once, in a rotated order
 *   --peers raw,troupe
 *   --sizes 100,4096      encoded EchoRequest sizes in bytes
 *   --in-flight 256       publishes outstanding
 *   --seconds 5           publish window per size (after --warmup-seconds)
 *   --warmup-seconds 1
 *   --messages 200000     events pre-filled and consumed per size, at most --fill-mib of them
 *   --fill-mib 512
 *   --json <file>         also write every round's raw results there
 */
import { parseArgs } from "node:util";
import { isRuntimeName, type RuntimeName } from "../rpc/runtimes.ts";
import { listFlag, positiveFlag, sizesFlag } from "../shared/flags.ts";
import { isPeerName, PEER_NAMES, type PeerName } from "./peers.ts";

export interface RunOptions {
  readonly runtimes: readonly RuntimeName[];
  readonly rounds: number;
  readonly peers: readonly PeerName[];
  readonly sizes: readonly number[];
  readonly inFlight: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Events pre-filled for the consume phase, unless that exceeds `fillMiB`. */
  readonly messages: number;
  /** The most payload bytes pre-filled for one size (keeps the 4 KiB stream within the store). */
  readonly fillMiB: number;
  /** Where to write the raw results as JSON; empty for nowhere. */
  readonly jsonFile: string;
}

export const defaultRunOptions: RunOptions = {
  runtimes: ["bun", "node"],
  rounds: 3,
  peers: PEER_NAMES,
  sizes: [100, 4096],
  inFlight: 256,
  seconds: 5,
  warmupSeconds: 1,
  messages: 200_000,
  fillMiB: 512,
  jsonFile: "",
};

/** The number of events pre-filled for events of `sizeBytes`. */
export function messagesFor(options: RunOptions, sizeBytes: number): number {
  return Math.min(options.messages, Math.floor((options.fillMiB * 1024 * 1024) / sizeBytes));
}

export function parseRunOptions(args: readonly string[]): RunOptions {
  const text = { type: "string" } as const;
  const { values } = parseArgs({
    args: [...args],
    options: {
      runtimes: text,
      rounds: text,
      peers: text,
      sizes: text,
      "in-flight": text,
      seconds: text,
      "warmup-seconds": text,
      messages: text,
      "fill-mib": text,
      json: text,
    },
  });
  const d = defaultRunOptions;
  return {
    runtimes: listFlag("runtimes", values.runtimes, d.runtimes, isRuntimeName),
    rounds: Math.round(positiveFlag("rounds", values.rounds, d.rounds)),
    peers: listFlag("peers", values.peers, d.peers, isPeerName),
    sizes: sizesFlag(values.sizes, d.sizes),
    inFlight: Math.round(positiveFlag("in-flight", values["in-flight"], d.inFlight)),
    seconds: positiveFlag("seconds", values.seconds, d.seconds),
    warmupSeconds: positiveFlag("warmup-seconds", values["warmup-seconds"], d.warmupSeconds),
    messages: Math.max(10, Math.round(positiveFlag("messages", values.messages, d.messages))),
    fillMiB: positiveFlag("fill-mib", values["fill-mib"], d.fillMiB),
    jsonFile: values.json ?? d.jsonFile,
  };
}
