/**
 * The driver's options: a documented interface, its defaults, and one parser from argv.
 *
 *   --runtimes bun,node   runtimes under test (bun, node, deno)
 *   --rounds 3            rounds; each runs every peer once, in a rotated order
 *   --peers raw,mux,connect,troupe
 *   --sizes 100,4096      encoded EchoRequest sizes in bytes
 *   --calls 5000          sequential calls timed per size (after --warmup-calls)
 *   --warmup-calls 1000
 *   --in-flight 64        concurrent calls outstanding
 *   --seconds 3           concurrent measured window per size (after --warmup-seconds)
 *   --warmup-seconds 1
 *   --json <file>         also write every round's raw results there
 */
import { parseArgs } from "node:util";
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

function positive(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${flag} must be a positive number, not "${text}"`);
  return value;
}

function list<T extends string>(
  flag: string,
  text: string | undefined,
  fallback: readonly T[],
  is: (s: string) => s is T,
) {
  if (text === undefined) return fallback;
  const items = text.split(",").filter((item) => item !== "");
  const bad = items.filter((item) => !is(item));
  if (bad.length > 0 || items.length === 0)
    throw new Error(`--${flag}: unknown ${bad.join(", ") || "(empty)"}`);
  return items as T[];
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
      calls: text,
      "warmup-calls": text,
      "in-flight": text,
      seconds: text,
      "warmup-seconds": text,
      json: text,
    },
  });
  const d = defaultRunOptions;
  const sizes =
    values.sizes === undefined ? d.sizes : values.sizes.split(",").map((size) => positive("sizes", size, 0));
  if (sizes.some((size) => !Number.isInteger(size) || size < 3)) {
    throw new Error("--sizes: whole numbers of bytes, at least 3");
  }
  return {
    runtimes: list("runtimes", values.runtimes, d.runtimes, isRuntimeName),
    rounds: Math.round(positive("rounds", values.rounds, d.rounds)),
    peers: list("peers", values.peers, d.peers, isPeerName),
    sizes,
    calls: Math.round(positive("calls", values.calls, d.calls)),
    warmupCalls: Math.round(positive("warmup-calls", values["warmup-calls"], d.warmupCalls)),
    inFlight: Math.round(positive("in-flight", values["in-flight"], d.inFlight)),
    seconds: positive("seconds", values.seconds, d.seconds),
    warmupSeconds: positive("warmup-seconds", values["warmup-seconds"], d.warmupSeconds),
    jsonFile: values.json ?? d.jsonFile,
  };
}
