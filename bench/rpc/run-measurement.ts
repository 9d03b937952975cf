/**
 * One measurement: starts a peer's echo server and then its client, each as its own process on
 * the runtime under test, and returns the client's results. Both processes are gone when it
 * returns; a failure is reported, not thrown (shared/with-children.ts).
 */
import type { MeasurementRun as Run, Site } from "../shared/measurement.ts";
import { withChildren } from "../shared/with-children.ts";
import { parseResultLine, type SizeResult } from "./child-line.ts";
import { PEERS, type PeerName } from "./peers.ts";
import type { RunOptions } from "./run-options.ts";

export type MeasurementRun = Run<{ readonly sizes: readonly SizeResult[] }>;

const SERVER_START_TIMEOUT_MS = 30_000;

export function runMeasurement(
  { runtime, peer, natsUrl, repoRoot }: Site<PeerName>,
  options: RunOptions,
): Promise<MeasurementRun> {
  return withChildren(repoRoot, async (children) => {
    const server = `bench/rpc/${PEERS[peer].serverFile}`;
    const ready = await children.startServer(runtime, server, natsUrl, SERVER_START_TIMEOUT_MS);
    const client = children.spawn(
      runtime,
      "bench/rpc/client.ts",
      [
        ...["--peer", peer, "--target", ready.target, "--sizes", options.sizes.join(",")],
        ...["--calls", String(options.calls), "--warmup-calls", String(options.warmupCalls)],
        ...["--in-flight", String(options.inFlight), "--seconds", String(options.seconds)],
        ...["--warmup-seconds", String(options.warmupSeconds)],
      ],
      parseResultLine,
    );
    // Generous: sequential calls at 5 ms each would still fit.
    const budgetMs =
      SERVER_START_TIMEOUT_MS +
      options.sizes.length *
        (1000 * (options.seconds + options.warmupSeconds) + 5 * (options.calls + options.warmupCalls));
    const line = await client.nextLine(budgetMs);
    return { kind: "result", runtimeVersion: line.runtime, sizes: line.sizes };
  });
}
