import { readEnv } from "../platform/env.ts";
import { currentDir, fileExists, joinPath } from "../platform/files.ts";
import { runProcess } from "../platform/spawn-process.ts";
import {
  formatServerVersion,
  isAtLeast,
  MIN_SERVER_VERSION,
  parseServerVersion,
} from "../protocol/server-version.ts";

export interface NatsServerBinary {
  readonly path: string;
  /** "2.12.1" */
  readonly version: string;
}

const cache = new Map<string, Promise<NatsServerBinary>>();

/**
 * Finds a nats-server binary at least `MIN_SERVER_VERSION`: `binary` when given, else
 * `$TROUPE_NATS_SERVER`, the project's `.troupe/bin/nats-server` (what `npm run setup`
 * installs), then `nats-server` on PATH. Rejects, naming every candidate and the fix, when
 * none is new enough: tests never fall back to an older server.
 */
export function findNatsServer(binary?: string): Promise<NatsServerBinary> {
  const key = binary ?? "";
  let found = cache.get(key);
  if (found === undefined) {
    found = search(binary);
    cache.set(key, found);
  }
  return found;
}

async function search(binary: string | undefined): Promise<NatsServerBinary> {
  const candidates =
    binary !== undefined
      ? [binary]
      : [
          readEnv("TROUPE_NATS_SERVER"),
          joinPath(currentDir(), ".troupe", "bin", "nats-server"),
          "nats-server",
        ].filter((c): c is string => c !== undefined);
  const min = parseServerVersion(MIN_SERVER_VERSION);
  if (min === undefined) throw new Error("unreachable: MIN_SERVER_VERSION does not parse");
  const rejected: string[] = [];
  for (const path of candidates) {
    if (path.includes("/") && !fileExists(path)) {
      rejected.push(`${path}: not found`);
      continue;
    }
    const run = await runProcess(path, ["--version"]);
    const version = run.code === 0 ? parseServerVersion(run.output) : undefined;
    if (version === undefined) {
      rejected.push(`${path}: does not run (${run.output.trim().slice(0, 120) || "no output"})`);
    } else if (!isAtLeast(version, min)) {
      rejected.push(`${path}: version ${formatServerVersion(version)} is too old`);
    } else {
      return { path, version: formatServerVersion(version) };
    }
  }
  throw new Error(
    `no nats-server >= ${MIN_SERVER_VERSION} found (${rejected.join("; ")}). ` +
      "Run `npm run setup` to install one into .troupe/bin, or set TROUPE_NATS_SERVER.",
  );
}
