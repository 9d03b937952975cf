/**
 * One measurement's child processes, each on a runtime under test: the servers it starts and
 * the process that measures. All of them are gone when the measurement returns, the last
 * started stopped first (a client before its server, a gateway before its actor). A failure is
 * returned, not thrown, so that one broken peer does not cost the measurements of the others.
 */
import { join } from "node:path";
import { childLineParser, type ReadyLine } from "./child-line.ts";
import type { FailedRun } from "./measurement.ts";
import { type RuntimeName, runtimeCommand } from "./runtimes.ts";
import { type Child, spawnChild } from "./spawn-child.ts";

export interface Children {
  /** Starts `file` (relative to the repo root) on `runtime`, reading its lines with `parseLine`. */
  spawn<Line>(
    runtime: RuntimeName,
    file: string,
    args: readonly string[],
    parseLine: (text: string) => Line | undefined,
  ): Child<Line>;
  /** Starts a server (serve-peer.ts) on `runtime` and resolves with its "ready" line. */
  startServer(runtime: RuntimeName, file: string, natsUrl: string, timeoutMs: number): Promise<ReadyLine>;
}

const parseReadyLine = childLineParser<ReadyLine>(["ready"]);

export async function withChildren<Run>(
  repoRoot: string,
  measure: (children: Children) => Promise<Run>,
): Promise<Run | FailedRun> {
  const started: Child<unknown>[] = [];
  const children: Children = {
    spawn(runtime, file, args, parseLine) {
      const [bin, ...runArgs] = runtimeCommand(runtime, repoRoot, join(repoRoot, file));
      const child = spawnChild(bin, [...runArgs, ...args], repoRoot, parseLine);
      started.push(child);
      return child;
    },
    startServer(runtime, file, natsUrl, timeoutMs) {
      return children.spawn(runtime, file, ["--nats-url", natsUrl], parseReadyLine).nextLine(timeoutMs);
    },
  };
  try {
    return await measure(children);
  } catch (err) {
    return { kind: "failed", reason: err instanceof Error ? err.message : String(err) };
  } finally {
    for (const child of started.reverse()) await child.stop();
  }
}
