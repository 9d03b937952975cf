/**
 * runtime/jsr.json (the package for JSR, where Deno takes the TypeScript sources as they are)
 * says what runtime/package.json says: the same version, every subpath export on the same source
 * file, and each generated module under the `.js` name that generated code imports
 * (`troupe/gen/troupe/v1/options_pb.js`). `deno publish --dry-run` in runtime/ checks the rest.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../support/actor-process.ts";

const runtime = join(REPO_ROOT, "runtime");
const npm = JSON.parse(readFileSync(join(runtime, "package.json"), "utf8")) as {
  version: string;
  exports: Record<string, string | Record<string, string>>;
};
const jsr = JSON.parse(readFileSync(join(runtime, "jsr.json"), "utf8")) as {
  version: string;
  exports: Record<string, string>;
};

function generatedModules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return generatedModules(path);
    return entry.name.endsWith("_pb.ts") ? [relative(runtime, path)] : [];
  });
}

test("jsr.json has package.json's version", () => {
  assert.equal(jsr.version, npm.version);
});

test("jsr.json exports every subpath of package.json, on its source file", () => {
  const expected: Record<string, string> = {};
  for (const [subpath, target] of Object.entries(npm.exports)) {
    if (typeof target !== "object" || subpath.includes("*")) continue;
    const source = target["troupe-source"];
    assert.ok(source, `${subpath} has a troupe-source target`);
    expected[subpath] = source;
  }
  for (const module of generatedModules(join(runtime, "gen"))) {
    expected[`./${module.replace(/\.ts$/, ".js")}`] = `./${module}`;
  }
  assert.ok(Object.keys(expected).length > 10, "package.json's exports were read");
  assert.deepEqual(jsr.exports, expected);
});
