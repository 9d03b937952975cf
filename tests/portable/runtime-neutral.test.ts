/**
 * Keeps the core and the actors runtime-neutral (STYLE.md rule 1): outside runtime/platform and
 * runtime/cli, no file of runtime/ or actors/ imports `node:*`, `bun:*` or a Deno module, or touches `Bun`, `Deno` or `process`.
 * Runtime capabilities reach the core as functions from the platform adapters.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const ALLOWED = ["runtime/platform/", "runtime/cli/"];
const FORBIDDEN: readonly [RegExp, string][] = [
  [/\bfrom\s+["'](node:|bun:|jsr:|https?:)/, "imports a runtime-specific module"],
  [/\bimport\s*\(\s*["'](node:|bun:)/, "imports a runtime-specific module"],
  [/\b(globalThis\.)?(Bun|Deno)\s*\./, "uses a runtime global"],
  [/(?<![\w./-])process\s*\.(?!ts\b)/, "uses process"],
];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

test("the runtime core and the actors use only web-standard APIs", () => {
  const files = [...tsFiles(join(ROOT, "runtime")), ...tsFiles(join(ROOT, "actors"))];
  assert.ok(files.length > 5, "the scan sees the runtime's files");
  const violations: string[] = [];
  for (const file of files) {
    const path = relative(ROOT, file);
    if (ALLOWED.some((prefix) => path.startsWith(prefix))) continue;
    const source = stripComments(readFileSync(file, "utf8"));
    for (const [pattern, what] of FORBIDDEN) {
      if (pattern.test(source)) violations.push(`${path} ${what} (${pattern})`);
    }
  }
  assert.deepEqual(violations, []);
});

test("the scan catches a violation", () => {
  const offending = 'import { spawn } from "node:child_process";\nBun.serve({});\nprocess.exit(1);';
  const hits = FORBIDDEN.filter(([pattern]) => pattern.test(offending));
  assert.equal(hits.length, 3);
});
