/**
 * One measurement: runs measure.ts for one peer and one payload size as its own process on the
 * runtime under test and returns what it reported. The process is gone when it returns. A
 * failure is reported, not thrown, so that one broken peer does not cost the measurements of
 * the others.
 */
import { join } from "node:path";
import { type RuntimeName, runtimeCommand } from "../rpc/runtimes.ts";
import { spawnChild } from "../shared/spawn-child.ts";
import { type EventsResult, parseChildLine } from "./child-line.ts";
import type { PeerName } from "./peers.ts";
import { messagesFor, type RunOptions } from "./run-options.ts";

export type MeasurementRun =
  | { readonly kind: "result"; readonly runtimeVersion: string; readonly result: EventsResult }
  /** The process crashed, timed out or saw wrong events. */
  | { readonly kind: "failed"; readonly reason: string };

/** Start-up, stream set-up and clean-up; the phases' own time is added per measurement. */
const BASE_TIMEOUT_MS = 60_000;
/** Budget per pre-filled event for filling and consuming it: 1 ms, far above any real rate. */
const PER_MESSAGE_MS = 1;

export async function runMeasurement(
  runtime: RuntimeName,
  peer: PeerName,
  sizeBytes: number,
  natsUrl: string,
  options: RunOptions,
  repoRoot: string,
): Promise<MeasurementRun> {
  const messages = messagesFor(options, sizeBytes);
  const file = join(repoRoot, "bench", "events", "measure.ts");
  const [bin, ...args] = runtimeCommand(runtime, repoRoot, file);
  const child = spawnChild(
    bin,
    [
      ...args,
      ...["--peer", peer, "--nats-url", natsUrl, "--size", String(sizeBytes)],
      ...["--in-flight", String(options.inFlight), "--seconds", String(options.seconds)],
      ...["--warmup-seconds", String(options.warmupSeconds), "--messages", String(messages)],
    ],
    repoRoot,
    parseChildLine,
  );
  try {
    const budgetMs =
      BASE_TIMEOUT_MS + 1000 * (options.seconds + options.warmupSeconds) + PER_MESSAGE_MS * messages;
    const line = await child.nextLine(budgetMs);
    return { kind: "result", runtimeVersion: line.runtime, result: line.result };
  } catch (err) {
    return { kind: "failed", reason: err instanceof Error ? err.message : String(err) };
  } finally {
    await child.stop();
  }
}
