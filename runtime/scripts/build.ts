/**
 * Builds the package for Node consumers (`npm pack` runs it as `prepack`): JavaScript and
 * `.d.ts` under dist/, compiled by the repository's TypeScript from runtime/tsconfig.build.json.
 * `--clean` removes dist/ again (`postpack`), so that inside the repository the sources are the
 * only copy and nothing stale can be picked up. Bun uses the sources through the `bun` export
 * condition and needs no build.
 */
import { execFileSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
if (process.argv.includes("--clean")) process.exit(0);

// The compiler of the workspace that holds this package (the repository's devDependency).
const tsc = [join(root, "node_modules/.bin/tsc"), join(root, "../node_modules/.bin/tsc")].find((p) =>
  existsSync(p),
);
if (tsc === undefined) {
  console.error("build: no TypeScript compiler found; run `npm ci` at the repository root first");
  process.exit(1);
}
execFileSync(tsc, ["-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
