/**
 * Sums JUnit reports from bun, deno and node into one closing line, `N passed, N failed`.
 *
 *   node scripts/junit-summary.ts bun=report.xml:0 deno=report.xml:1 …
 *
 * Each argument names a runner, its report and the runner's exit code. A test is a leaf
 * <testcase>: Deno also lists every `describe` as a testcase whose name prefixes its children's
 * ("suite > test"), so those containers are not counted. A runner that exited non-zero although
 * its report shows no failure (it crashed, or a file did not load) counts as one failure; so does
 * a step without a report (the static checks) that exited non-zero.
 */
import { readFileSync } from "node:fs";

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

// Attribute values may hold a raw ">" (node's reporter does not escape it), so skip quoted text.
const TESTCASE = /<testcase\b((?:[^>"]|"[^"]*")*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g;

function attribute(attrs: string, name: string): string {
  return new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1] ?? "";
}

function tally(xml: string): Tally {
  const cases = [...xml.matchAll(TESTCASE)].map((m) => ({
    name: attribute(m[1] ?? "", "name"),
    file: attribute(m[1] ?? "", "classname"),
    body: m[2] ?? "",
  }));
  const names = cases.map((c) => c.name);
  const result: Tally = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const c of cases) {
    if (names.some((n) => n.startsWith(`${c.name} &gt; `))) continue;
    if (/<(failure|error)\b/.test(c.body)) {
      result.failed++;
      result.failures.push(`${c.file}: ${c.name}`);
    } else if (/<skipped\b/.test(c.body)) {
      result.skipped++;
    } else {
      result.passed++;
    }
  }
  return result;
}

const total: Tally = { passed: 0, failed: 0, skipped: 0, failures: [] };
for (const arg of process.argv.slice(2)) {
  const match = /^([^=]+)=(.+):(\d+)$/.exec(arg);
  if (match === null) throw new Error(`expected runner=report.xml:exitcode, got ${arg}`);
  const [, runner = "", path = "", code = "1"] = match;
  let xml = "";
  try {
    xml = readFileSync(path, "utf8");
  } catch {
    // no report at all: the runner did not get far enough to write one
  }
  const t = tally(xml);
  if (code !== "0" && t.failed === 0) {
    t.failed = 1;
    t.failures.push(`${runner} exited with code ${code}${xml === "" ? " and wrote no report" : ""}`);
  }
  if (xml === "" && code === "0") {
    console.log(`${runner}: ok`);
    continue;
  }
  console.log(`${runner}: ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
  for (const f of t.failures) console.log(`  failed: ${f.replaceAll("&gt;", ">").replaceAll("&apos;", "'")}`);
  total.passed += t.passed;
  total.failed += t.failed;
  total.skipped += t.skipped;
}
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exitCode = total.failed > 0 ? 1 : 0;
