/**
 * The driver's options: a documented interface, its defaults, and one parser from argv.
 *
 *   --runtimes bun,node        runtimes of the servers under test (bun, node, deno)
 *   --rounds 3                 rounds; each runs every peer once, in a rotated order
 *   --peers gateway,hono,connect
 *   --concurrency 64           HTTP/1.1 connections, or HTTP/2 streams, kept busy
 *   --sessions 4               HTTP/2 sessions the Connect load spreads its streams over
 *   --seconds 5                measured window (after --warmup-seconds)
 *   --warmup-seconds 1
 *   --json <file>              also write every measurement's raw results there
 */
import { parseArgs } from "node:util";
import { isRuntimeName, type RuntimeName } from "../rpc/runtimes.ts";
import { listFlag, positiveFlag } from "../shared/flags.ts";
import { isPeerName, PEER_NAMES, type PeerName } from "./peers.ts";

export interface RunOptions {
  readonly runtimes: readonly RuntimeName[];
  readonly rounds: number;
  readonly peers: readonly PeerName[];
  readonly concurrency: number;
  readonly sessions: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Where to write the raw results as JSON; empty for nowhere. */
  readonly jsonFile: string;
}

export const defaultRunOptions: RunOptions = {
  runtimes: ["bun", "node"],
  rounds: 3,
  peers: PEER_NAMES,
  concurrency: 64,
  sessions: 4,
  seconds: 5,
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
      concurrency: text,
      sessions: text,
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
    concurrency: Math.round(positiveFlag("concurrency", values.concurrency, d.concurrency)),
    sessions: Math.round(positiveFlag("sessions", values.sessions, d.sessions)),
    seconds: positiveFlag("seconds", values.seconds, d.seconds),
    warmupSeconds: positiveFlag("warmup-seconds", values["warmup-seconds"], d.warmupSeconds),
    jsonFile: values.json ?? d.jsonFile,
  };
}
