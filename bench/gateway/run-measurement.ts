/**
 * One measurement: starts a peer's server processes on the runtime under test (for the
 * gateway, the actor and then the gateway), then the load generator on Node, and returns what
 * the load generator measured. Every process is gone when it returns. A failure is reported,
 * not thrown, so that one broken peer does not cost the measurements of the others.
 */
import { join } from "node:path";
import { type RuntimeName, runtimeCommand } from "../rpc/runtimes.ts";
import { type Child, spawnChild } from "../shared/spawn-child.ts";
import { type ChildLine, type LoadResult, parseChildLine } from "./child-line.ts";
import { PEERS, type PeerName } from "./peers.ts";
import type { RunOptions } from "./run-options.ts";

export type MeasurementRun =
  | { readonly kind: "result"; readonly runtimeVersion: string; readonly result: LoadResult }
  /** A server or the load generator crashed, timed out or got wrong answers. */
  | { readonly kind: "failed"; readonly reason: string };

const START_TIMEOUT_MS = 30_000;

export async function runMeasurement(
  runtime: RuntimeName,
  peer: PeerName,
  natsUrl: string,
  options: RunOptions,
  repoRoot: string,
): Promise<MeasurementRun> {
  const here = join(repoRoot, "bench", "gateway");
  const children: Child<ChildLine>[] = [];
  try {
    let target = "";
    let runtimeVersion: string = runtime;
    for (const file of PEERS[peer].servers) {
      const [bin, ...args] = runtimeCommand(runtime, repoRoot, join(here, file));
      const server = spawnChild(bin, [...args, "--nats-url", natsUrl], repoRoot, parseChildLine);
      children.push(server);
      const ready = await server.nextLine(START_TIMEOUT_MS);
      if (ready.kind !== "ready") throw new Error(`${file}: expected "ready", got "${ready.kind}"`);
      target = ready.target;
      runtimeVersion = ready.runtime;
    }
    const [bin, ...args] = runtimeCommand("node", repoRoot, join(here, "load.ts"));
    const load = spawnChild(
      bin,
      [
        ...args,
        ...["--protocol", PEERS[peer].protocol, "--target", target],
        ...["--concurrency", String(options.concurrency), "--sessions", String(options.sessions)],
        ...["--seconds", String(options.seconds), "--warmup-seconds", String(options.warmupSeconds)],
      ],
      repoRoot,
      parseChildLine,
    );
    children.push(load);
    const line = await load.nextLine(START_TIMEOUT_MS + 1000 * (options.seconds + options.warmupSeconds));
    if (line.kind !== "result") throw new Error(`load: expected "result", got "${line.kind}"`);
    if (line.result.errors > 0) throw new Error(`${line.result.errors} requests failed or answered wrongly`);
    return { kind: "result", runtimeVersion, result: line.result };
  } catch (err) {
    return { kind: "failed", reason: err instanceof Error ? err.message : String(err) };
  } finally {
    // The load generator first, then the servers in reverse: the gateway before its actor.
    for (const child of children.reverse()) await child.stop();
  }
}
