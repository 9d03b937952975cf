/**
 * Starts an instance of the keyed or plain counter (peers/instance.ts) as a child process of a
 * measurement, on the runtime under test, and resolves with its id in discovery and its pid once
 * it serves.
 */
import type { Site } from "../shared/measurement.ts";
import type { Children } from "../shared/with-children.ts";
import { parseInstanceLine } from "./child-line.ts";

/** Time for an instance to start: loading, connecting, its buckets, its placement. */
export const INSTANCE_START_TIMEOUT_MS = 60_000;

export async function startInstance(
  children: Children,
  { runtime, natsUrl }: Pick<Site<string>, "runtime" | "natsUrl">,
  args: readonly string[],
): Promise<{ readonly id: string; readonly pid: number }> {
  const child = children.spawn(
    runtime,
    "bench/keyed/peers/instance.ts",
    ["--nats-url", natsUrl, ...args],
    parseInstanceLine,
  );
  const line = await child.nextLine(INSTANCE_START_TIMEOUT_MS);
  if (child.pid === undefined) throw new Error("an instance process has no pid");
  return { id: line.id, pid: child.pid };
}
