/**
 * Writes the API report of the package `troupe` to runtime/api/ (scripts/api-surface.ts says
 * what it holds). Run it after changing what an entry file exports, and commit the result:
 *
 *   npm run api              # rewrite runtime/api/
 *   npm run api -- --check   # exit 1, naming the files, when runtime/api/ is out of date
 *
 * Loads every subpath, so it runs with the troupe-source condition (the npm script passes it).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildReport, REPORT_DIR, ROOT } from "./api-surface.ts";

async function main(): Promise<void> {
  const check = process.argv.includes("--check");
  const { files, problems } = await buildReport();
  if (problems.length > 0) {
    console.error(`api: the package's exports need fixing first:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  const dir = join(ROOT, REPORT_DIR);
  mkdirSync(dir, { recursive: true });
  const existing = readdirSync(dir).filter((name) => name.endsWith(".md"));
  const stale = existing.filter((name) => !files.has(name));
  const changed = [...files].filter(
    ([name, text]) => !existing.includes(name) || readText(join(dir, name)) !== text,
  );
  if (check) {
    if (stale.length + changed.length === 0) return;
    const names = [...changed.map(([name]) => name), ...stale];
    console.error(`api: ${REPORT_DIR}/ is out of date (${names.join(", ")}); run npm run api and commit it`);
    process.exit(1);
  }
  for (const name of stale) rmSync(join(dir, name));
  for (const [name, text] of changed) writeFileSync(join(dir, name), text);
  const touched = [...changed.map(([name]) => name), ...stale.map((name) => `${name} (removed)`)];
  console.log(
    touched.length === 0 ? `api: ${REPORT_DIR}/ is up to date` : `api: wrote ${touched.join(", ")}`,
  );
}

function readText(path: string): string {
  return readFileSync(path, "utf8");
}

await main();
