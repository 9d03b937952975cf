/**
 * The JavaScript runtimes the benchmark can put under test, and how each runs a TypeScript
 * file (all three run the repo's erasable TypeScript without a build). Binaries come from the
 * repo's node_modules/.bin, so the versions are the pinned ones.
 */
import { join } from "node:path";

export const RUNTIME_NAMES = ["bun", "node", "deno"] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** The command line that runs `file` on `runtime`. */
export function runtimeCommand(runtime: RuntimeName, repoRoot: string, file: string): [string, ...string[]] {
  const bin = join(repoRoot, "node_modules", ".bin", runtime);
  switch (runtime) {
    case "bun":
      return [bin, file];
    // `troupe` resolves to its sources inside the repository through this export condition.
    case "node":
      return [bin, "--conditions=troupe-source", file];
    case "deno":
      return [bin, "run", "--allow-all", "--conditions=troupe-source", file];
  }
}

export function isRuntimeName(name: string): name is RuntimeName {
  return (RUNTIME_NAMES as readonly string[]).includes(name);
}
