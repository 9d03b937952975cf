/**
 * One measurement: runs measure.ts for one peer and one payload size as its own process on the
 * runtime under test and returns what it reported. The process is gone when it returns; a
 * failure is reported, not thrown (shared/with-children.ts).
 */
import type { MeasurementRun as Run, Site } from "../shared/measurement.ts";
import { withChildren } from "../shared/with-children.ts";
import { type EventsResult, parseResultLine } from "./child-line.ts";
import type { PeerName } from "./peers.ts";
import { messagesFor, type RunOptions } from "./run-options.ts";

export type MeasurementRun = Run<{ readonly result: EventsResult }>;

/** Start-up, stream set-up and clean-up; the phases' own time is added per measurement. */
const BASE_TIMEOUT_MS = 60_000;
/** Budget per pre-filled event for filling and consuming it: 1 ms, far above any real rate. */
const PER_MESSAGE_MS = 1;

export function runMeasurement(
  { runtime, peer, natsUrl, repoRoot }: Site<PeerName>,
  sizeBytes: number,
  options: RunOptions,
): Promise<MeasurementRun> {
  const messages = messagesFor(options, sizeBytes);
  return withChildren(repoRoot, async (children) => {
    const child = children.spawn(
      runtime,
      "bench/events/measure.ts",
      [
        ...["--peer", peer, "--nats-url", natsUrl, "--size", String(sizeBytes)],
        ...["--in-flight", String(options.inFlight), "--seconds", String(options.seconds)],
        ...["--warmup-seconds", String(options.warmupSeconds), "--messages", String(messages)],
      ],
      parseResultLine,
    );
    const budgetMs =
      BASE_TIMEOUT_MS + 1000 * (options.seconds + options.warmupSeconds) + PER_MESSAGE_MS * messages;
    const line = await child.nextLine(budgetMs);
    return { kind: "result", runtimeVersion: line.runtime, result: line.result };
  });
}
