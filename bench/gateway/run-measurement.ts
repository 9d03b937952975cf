/**
 * One measurement: starts a peer's server processes on the runtime under test (for the
 * gateway, the actor and then the gateway), then the load generator on Node, and returns what
 * the load generator measured. Every process is gone when it returns; a failure is reported,
 * not thrown (shared/with-children.ts).
 */
import type { MeasurementRun as Run, Site } from "../shared/measurement.ts";
import { withChildren } from "../shared/with-children.ts";
import { type LoadResult, parseResultLine } from "./child-line.ts";
import { PEERS, type PeerName } from "./peers.ts";
import type { RunOptions } from "./run-options.ts";

export type MeasurementRun = Run<{ readonly result: LoadResult }>;

const START_TIMEOUT_MS = 30_000;

export function runMeasurement(
  { runtime, peer, natsUrl, repoRoot }: Site<PeerName>,
  options: RunOptions,
): Promise<MeasurementRun> {
  return withChildren(repoRoot, async (children) => {
    let target = "";
    let runtimeVersion: string = runtime;
    for (const file of PEERS[peer].servers) {
      const ready = await children.startServer(runtime, `bench/gateway/${file}`, natsUrl, START_TIMEOUT_MS);
      target = ready.target;
      runtimeVersion = ready.runtime;
    }
    const load = children.spawn(
      "node",
      "bench/gateway/load.ts",
      [
        ...["--protocol", PEERS[peer].protocol, "--target", target],
        ...["--concurrency", String(options.concurrency), "--sessions", String(options.sessions)],
        ...["--seconds", String(options.seconds), "--warmup-seconds", String(options.warmupSeconds)],
      ],
      parseResultLine,
    );
    const line = await load.nextLine(START_TIMEOUT_MS + 1000 * (options.seconds + options.warmupSeconds));
    if (line.result.errors > 0) throw new Error(`${line.result.errors} requests failed or answered wrongly`);
    return { kind: "result", runtimeVersion, result: line.result };
  });
}
