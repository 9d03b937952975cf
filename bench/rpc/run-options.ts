/**
 * The driver's options: a documented interface, its defaults, and one parser from argv. Besides
 * the common flags (shared/common-run-options.ts: --runtimes, --rounds, --peers, --seconds,
 * --warmup-seconds, --json):
 *
 *   --peers raw,mux,connect,troupe,policies (also: tls, raw-tls, secured, moleculer, nestjs)
 *   --sizes 100,4096      encoded EchoRequest sizes in bytes
 *   --calls 5000          sequential calls timed per size (after --warmup-calls)
 *   --warmup-calls 1000
 *   --in-flight 64        concurrent calls outstanding
 *   --seconds 3           concurrent measured window per size (after --warmup-seconds)
 */
import { type CommonRunOptions, commonFlags } from "../shared/common-run-options.ts";
import { countFlag, sizesFlag } from "../shared/flags.ts";
import { parseFlags } from "../shared/parse-flags.ts";
import { FRAMEWORK_PEERS, isPeerName, PEER_NAMES, type PeerName, TLS_PEERS } from "./peers.ts";

export interface RunOptions extends CommonRunOptions<PeerName> {
  readonly sizes: readonly number[];
  readonly calls: number;
  readonly warmupCalls: number;
  readonly inFlight: number;
}

export const defaultRunOptions: RunOptions = {
  runtimes: ["bun", "node"],
  rounds: 3,
  // The TLS peers need a second nats-server, and the frameworks add minutes: asked for by name
  // (--peers raw,troupe,tls,raw-tls,moleculer,nestjs).
  peers: PEER_NAMES.filter((peer) => !TLS_PEERS.includes(peer) && !FRAMEWORK_PEERS.includes(peer)),
  sizes: [100, 4096],
  calls: 5000,
  warmupCalls: 1000,
  inFlight: 64,
  seconds: 3,
  warmupSeconds: 1,
  jsonFile: "",
  chartFile: "",
};

export function parseRunOptions(args: readonly string[]): RunOptions {
  const flags = {
    ...commonFlags(isPeerName),
    sizes: sizesFlag,
    calls: countFlag("calls"),
    warmupCalls: countFlag("warmup-calls"),
    inFlight: countFlag("in-flight"),
  };
  return parseFlags(args, flags, defaultRunOptions);
}
