/**
 * The declarations of a project's processes, from their own code: each actor's main file runs
 * with TROUPE_PRINT_DECLARATION=1 (runtime/process/print-declaration.ts), in the runtime that
 * runs it, prints one JSON line and exits without connecting. The gateway's main file prints
 * the public methods of the contracts it fronts.
 */

import { spawnProcess } from "../../platform/spawn-process.ts";
import {
  PRINT_DECLARATION_ENV,
  type ProcessDeclaration,
  parseDeclaration,
} from "../../protocol/declaration.ts";
import type { ActorRuntime } from "../dev/dev-options.ts";
import { type ActorEntry, actorCommand } from "../dev/find-actors.ts";

export interface CollectOptions {
  readonly root: string;
  readonly runtime: ActorRuntime;
  /** Extra environment of every process (TROUPE_CONTRACTS for the gateway). */
  readonly env: Readonly<Record<string, string>>;
  /** The gateway's folder name: its process has no actor name to check. */
  readonly gateway: string | undefined;
  readonly timeoutMs: number;
}

/** Runs every entry in declaration mode, a few at a time; throws naming the first that failed. */
export async function collectDeclarations(
  entries: readonly ActorEntry[],
  options: CollectOptions,
): Promise<ProcessDeclaration[]> {
  const results: ProcessDeclaration[] = [];
  const queue = [...entries];
  const worker = async () => {
    for (let entry = queue.shift(); entry !== undefined; entry = queue.shift()) {
      results.push(await declarationOf(entry, options));
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, entries.length) }, worker));
  // In the entries' order, whatever order they finished in.
  const order = entries.map((e) => e.name);
  return results.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}

async function declarationOf(entry: ActorEntry, options: CollectOptions): Promise<ProcessDeclaration> {
  const { command, args } = actorCommand(options.runtime, options.root, entry.file);
  const child = spawnProcess(command, args, {
    cwd: options.root,
    env: {
      ...options.env,
      [PRINT_DECLARATION_ENV]: "1",
      ...(entry.name === options.gateway
        ? {}
        : { TROUPE_ACTOR_NAME: entry.name, TROUPE_ACTOR_FILE: entry.file }),
    },
  });
  let stdout = "";
  child.onOutput((chunk, stream) => {
    if (stream === "stdout") stdout += chunk;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
  const status = await child.exited;
  clearTimeout(timer);
  const from = `${entry.file} (${PRINT_DECLARATION_ENV}=1)`;
  if (status.code !== 0) {
    const how = status.code === null ? `signal ${status.signal}` : `code ${status.code}`;
    throw new Error(
      `${entry.name} exited during startup (${how}), printing its declaration for its credentials (${from}):\n${child.output().slice(-2_000)}`,
    );
  }
  const line =
    stdout
      .trim()
      .split("\n")
      .findLast((l) => l.startsWith("{")) ?? stdout.trim();
  const declaration = parseDeclaration(line, from);
  if (entry.name !== options.gateway && declaration.name !== entry.name) {
    throw new Error(`${from} declares actor '${declaration.name}', not '${entry.name}' (its folder)`);
  }
  return declaration;
}
