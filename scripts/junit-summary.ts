/**
 * Sums JUnit reports from bun, deno and node into one closing line, `N passed, N failed`.
 *
 *   node scripts/junit-summary.ts bun=report.xml:0 deno=report.xml:1 …
 *
 * Each argument names a runner, its report and the runner's exit code. A test is a leaf
 * <testcase>: Deno also lists every `describe` as a testcase whose name prefixes its children's
 * ("suite > test"), so those containers are not counted. A runner that exited non-zero although
 * its report shows no failure (it crashed, or a file did not load) counts as one failure; so does
 * a step without a report (the static checks) that exited non-zero. Each failure is printed with
 * the first lines of its message, so that the tail of a CI log says why.
 */
import { readFileSync } from "node:fs";

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  failures: Failure[];
}

/** A failed test and the first lines of what its runner reported (the CI log shows the tail). */
interface Failure {
  readonly name: string;
  readonly detail: readonly string[];
}

const DETAIL_LINES = 12;

function xmlText(text: string): string {
  return text
    .replace(/<!\[CDATA\[|\]\]>/g, "")
    .replaceAll("&gt;", ">")
    .replaceAll("&lt;", "<")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&#10;", "\n")
    .replaceAll("&amp;", "&");
}

/** The failure's message attribute and text, trimmed to a few non-empty lines. */
function detailOf(body: string): string[] {
  const failure = /<(?:failure|error)\b((?:[^>"]|"[^"]*")*?)(?:\/>|>([\s\S]*?)<\/(?:failure|error)>)/.exec(
    body,
  );
  if (failure === null) return [];
  const message = attribute(failure[1] ?? "", "message");
  const lines = xmlText(`${message}\n${failure[2] ?? ""}`)
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== "");
  const unique = lines.filter((line, i) => lines.indexOf(line) === i);
  return unique.length > DETAIL_LINES ? [...unique.slice(0, DETAIL_LINES), "…"] : unique;
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
      result.failures.push({
        name: c.file === "" ? c.name : `${c.file}: ${c.name}`,
        detail: detailOf(c.body),
      });
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
    t.failures.push({
      name: `${runner} exited with code ${code}${xml === "" ? " and wrote no report" : ""}`,
      detail: [],
    });
  }
  if (xml === "" && code === "0") {
    console.log(`${runner}: ok`);
    continue;
  }
  console.log(`${runner}: ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
  for (const f of t.failures) {
    console.log(`  failed: ${xmlText(f.name)}`);
    for (const line of f.detail) console.log(`    | ${line}`);
  }
  total.passed += t.passed;
  total.failed += t.failed;
  total.skipped += t.skipped;
}
if (total.skipped > 0) console.log(`${total.skipped} skipped`);
// The last line, in the form CI reads: `N passed, N failed`.
console.log(`${total.passed} passed, ${total.failed} failed`);
process.exitCode = total.failed > 0 ? 1 : 0;
