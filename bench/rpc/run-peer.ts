/**
 * One measurement: starts a peer's echo server and then its client, each as its own process on
 * the runtime under test, and returns the client's results. Both processes are gone when it
 * returns. A failure is reported, not thrown, so that one broken peer does not cost the
 * measurements of the others.
 */
import { join } from "node:path";
import { spawnChild } from "../shared/spawn-child.ts";
import { parseChildLine, type SizeResult } from "./child-line.ts";
import { PEERS, type PeerName } from "./peers.ts";
import type { RunOptions } from "./run-options.ts";
import { type RuntimeName, runtimeCommand } from "./runtimes.ts";

export type PeerRun =
  | { readonly kind: "result"; readonly runtimeVersion: string; readonly sizes: readonly SizeResult[] }
  /** The server or client crashed, timed out or answered wrongly. */
  | { readonly kind: "failed"; readonly reason: string };

const SERVER_START_TIMEOUT_MS = 30_000;

export async function runPeer(
  runtime: RuntimeName,
  peer: PeerName,
  natsUrl: string,
  options: RunOptions,
  repoRoot: string,
): Promise<PeerRun> {
  try {
    return await measurePeer(runtime, peer, natsUrl, options, repoRoot);
  } catch (err) {
    return { kind: "failed", reason: err instanceof Error ? err.message : String(err) };
  }
}

async function measurePeer(
  runtime: RuntimeName,
  peer: PeerName,
  natsUrl: string,
  options: RunOptions,
  repoRoot: string,
): Promise<PeerRun> {
  const here = join(repoRoot, "bench", "rpc");
  const [serverBin, ...serverArgs] = runtimeCommand(runtime, repoRoot, join(here, PEERS[peer].serverFile));
  const server = spawnChild(serverBin, [...serverArgs, "--nats-url", natsUrl], repoRoot, parseChildLine);
  try {
    const ready = await server.nextLine(SERVER_START_TIMEOUT_MS);
    if (ready.kind !== "ready") throw new Error(`${peer} server: expected "ready", got "${ready.kind}"`);

    const [clientBin, ...clientArgs] = runtimeCommand(runtime, repoRoot, join(here, "client.ts"));
    const client = spawnChild(
      clientBin,
      [
        ...clientArgs,
        ...["--peer", peer, "--target", ready.target, "--sizes", options.sizes.join(",")],
        ...["--calls", String(options.calls), "--warmup-calls", String(options.warmupCalls)],
        ...["--in-flight", String(options.inFlight), "--seconds", String(options.seconds)],
        ...["--warmup-seconds", String(options.warmupSeconds)],
      ],
      repoRoot,
      parseChildLine,
    );
    try {
      // Generous: sequential calls at 5 ms each would still fit.
      const budgetMs =
        SERVER_START_TIMEOUT_MS +
        options.sizes.length *
          (1000 * (options.seconds + options.warmupSeconds) + 5 * (options.calls + options.warmupCalls));
      const line = await client.nextLine(budgetMs);
      if (line.kind !== "result") throw new Error(`${peer} client: expected "result", got "${line.kind}"`);
      return { kind: "result", runtimeVersion: line.runtime, sizes: line.sizes };
    } finally {
      await client.stop();
    }
  } finally {
    await server.stop();
  }
}
