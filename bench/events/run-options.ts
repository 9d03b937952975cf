/**
 * The driver's options: a documented interface, its defaults, and one parser from argv. Besides
 * the common flags (shared/common-run-options.ts: --runtimes, --rounds, --peers, --seconds,
 * --warmup-seconds, --json):
 *
 *   --peers raw,troupe (also: troupe-sync, rabbitmq)
 *   --sizes 100,4096      encoded EchoRequest sizes in bytes
 *   --in-flight 256       publishes outstanding
 *   --seconds 5           publish window per size (after --warmup-seconds)
 *   --messages 200000     events pre-filled and consumed per size, at most --fill-mib of them
 *   --fill-mib 512
 */
import { type CommonRunOptions, commonFlags } from "../shared/common-run-options.ts";
import { countFlag, numberFlag, sizesFlag } from "../shared/flags.ts";
import { type Flags, parseFlags } from "../shared/parse-flags.ts";
import { DURABLE_PEERS, isPeerName, PEER_NAMES, type PeerName } from "./peers.ts";

export interface RunOptions extends CommonRunOptions<PeerName> {
  readonly sizes: readonly number[];
  readonly inFlight: number;
  /** Events pre-filled for the consume phase, unless that exceeds `fillMiB`. */
  readonly messages: number;
  /** The most payload bytes pre-filled for one size (keeps the 4 KiB stream within the store). */
  readonly fillMiB: number;
}

export const defaultRunOptions: RunOptions = {
  runtimes: ["bun", "node"],
  rounds: 3,
  // Troupe on a syncing nats-server and RabbitMQ: asked for by name.
  peers: PEER_NAMES.filter((peer) => !DURABLE_PEERS.includes(peer)),
  sizes: [100, 4096],
  inFlight: 256,
  seconds: 5,
  warmupSeconds: 1,
  messages: 200_000,
  fillMiB: 512,
  jsonFile: "",
  chartFile: "",
};

/** The number of events pre-filled for events of `sizeBytes`. */
export function messagesFor(options: RunOptions, sizeBytes: number): number {
  return Math.min(options.messages, Math.floor((options.fillMiB * 1024 * 1024) / sizeBytes));
}

const messagesFlag = countFlag("messages");

export function parseRunOptions(args: readonly string[]): RunOptions {
  const flags = {
    ...commonFlags(isPeerName),
    sizes: sizesFlag,
    inFlight: countFlag("in-flight"),
    // At least 10 events: the consume phase's warm-up is the first tenth of them.
    messages: { ...messagesFlag, read: (text, fallback) => Math.max(10, messagesFlag.read(text, fallback)) },
    fillMiB: numberFlag("fill-mib"),
  } satisfies Flags<RunOptions>;
  return parseFlags(args, flags, defaultRunOptions);
}
