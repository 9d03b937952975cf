/**
 * The public surface of the package `troupe` is what runtime/api/ says it is, and nothing else
 * is reachable (docs/adr/0015-package-and-public-surface.md). The names come from the entry files
 * (which may hold only `export { … } from` statements) and, for values, from the modules as this
 * runtime loads them, so a value the report does not list, or one it lists that is gone, fails.
 *
 * When a test here fails because the surface changed on purpose: `npm run api`, then commit
 * runtime/api/ with the change; the diff is the review of the new surface.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  buildReport,
  internalImports,
  loadValues,
  PACKAGE_NAME,
  REPORT_DIR,
  ROOT,
  readExportsMap,
  readSurface,
} from "../../scripts/api-surface.ts";

const UPDATE = "If the change is intended, run `npm run api` and commit runtime/api/ with it.";
/**
 * The root export is what an actor author reads first; everything else has a subpath (issue 10:
 * at most 40 names, keyed actors included).
 */
const ROOT_EXPORT_LIMIT = 40;

test("the entry files hold only export-from statements of runtime modules", () => {
  const surface = readSurface();
  assert.deepEqual(surface.problems, [], "runtime/package.json exports or an entry file");
  const entries = surface.subpaths.filter((s) => !s.specifier.startsWith(`${PACKAGE_NAME}/gen/`));
  assert.ok(entries.length >= 10, `every subpath is read (${entries.map((s) => s.specifier).join(", ")})`);
  for (const subpath of entries)
    assert.ok(subpath.names.length > 0, `${subpath.specifier} exports something`);
});

test("each subpath exports at run time exactly the values its entry file declares", async () => {
  for (const subpath of readSurface().subpaths) {
    const loaded = [...(await loadValues(subpath.specifier)).keys()].sort();
    const declared = subpath.names
      .filter((n) => n.kind === "value")
      .map((n) => n.name)
      .sort();
    assert.deepEqual(loaded, declared, `${subpath.specifier}: Object.keys of the module vs ${subpath.entry}`);
  }
});

test("runtime/api/ lists the surface as it is", async () => {
  const { files, problems } = await buildReport();
  assert.deepEqual(problems, []);
  const dir = join(ROOT, REPORT_DIR);
  const onDisk = readdirSync(dir)
    .filter((name) => name.endsWith(".md"))
    .sort();
  assert.deepEqual(onDisk, [...files.keys()].sort(), `the files of ${REPORT_DIR}/. ${UPDATE}`);
  for (const [name, expected] of files) {
    const actual = readFileSync(join(dir, name), "utf8");
    if (actual === expected) continue;
    const was = new Set(actual.split("\n"));
    const now = new Set(expected.split("\n"));
    const diff = [
      ...[...was].filter((line) => !now.has(line)).map((line) => `- ${line}`),
      ...[...now].filter((line) => !was.has(line)).map((line) => `+ ${line}`),
    ];
    assert.fail(`${REPORT_DIR}/${name} differs from the package:\n${diff.join("\n")}\n${UPDATE}`);
  }
});

test(`the root export has at most ${ROOT_EXPORT_LIMIT} names`, () => {
  const root = readSurface().subpaths.find((s) => s.specifier === PACKAGE_NAME);
  assert.ok(root !== undefined, "the root subpath");
  assert.ok(
    root.names.length <= ROOT_EXPORT_LIMIT,
    `runtime/mod.ts exports ${root.names.length} names; move what an actor author does not need to a subpath`,
  );
});

test("tests, benchmarks and scripts import public names by the package name", () => {
  const misplaced = internalImports(readSurface()).flatMap(({ module, importers, publicNames }) =>
    [...publicNames].map(
      ([name, specifier]) => `${name}: from "${specifier}", not ${module} (${importers.join(", ")})`,
    ),
  );
  assert.deepEqual(misplaced, []);
});

test("paths the package does not export cannot be imported", async () => {
  // The control: the package resolves, so a failure below is the exports map closing the path.
  assert.ok((await loadValues(`${PACKAGE_NAME}/protocol`)).size > 0);
  // Node and Deno name the refusal ERR_PACKAGE_PATH_NOT_EXPORTED; Bun reports its resolver's
  // ERR_MODULE_NOT_FOUND, so the map itself is checked below as well.
  const closed =
    typeof process.versions.bun === "string" ? /ERR_MODULE_NOT_FOUND/ : /ERR_PACKAGE_PATH_NOT_EXPORTED/;
  for (const path of [
    "actor/define-actor.ts",
    "internal/x",
    "mod.ts",
    "protocol/subjects.ts",
    "gateway/mod.ts",
  ]) {
    // A variable specifier, so the type checker does not try to resolve it.
    const specifier = `${PACKAGE_NAME}/${path}`;
    await assert.rejects(import(specifier), (err: unknown) => {
      const { code, message } = err as { code?: unknown; message?: unknown };
      assert.match(`${String(code)} ${String(message)}`, closed, `importing ${specifier}`);
      return true;
    });
  }
});

test("the exports map closes everything it does not name", () => {
  const keys = Object.keys(readExportsMap());
  const exportsMap = readExportsMap();
  assert.equal(keys.at(-1), "./*", 'the last key is "./*"');
  assert.equal(exportsMap["./*"], null, '"./*" maps to null: every other path is closed');
  const patterns = keys.filter((key) => key.includes("*") && key !== "./*");
  assert.deepEqual(patterns, ["./gen/*.js"], "the only open pattern is the generated code");
});
