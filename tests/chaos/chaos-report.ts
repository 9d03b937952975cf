/**
 * The chaos suite's report: readable text (faults with their times, operations and their
 * outcomes, PlaceOrder latency, memory of every actor, each invariant PASS/FAIL with its numbers)
 * and JUnit XML, one test case per invariant per topology, which scripts/junit-summary.ts counts.
 */
import type { InjectedFault } from "./faults.ts";
import type { InvariantResult } from "./invariants.ts";
import type { Operation } from "./shop-load.ts";

export interface ActorMemory {
  readonly name: string;
  readonly startBytes: number | undefined;
  readonly endBytes: number | undefined;
  /** How many times troupe dev started it again. */
  readonly restarts: number;
}

export interface TopologyResult {
  readonly topology: "single" | "cluster";
  readonly profile: string;
  readonly setup: readonly string[];
  readonly loadMs: number;
  readonly faults: readonly InjectedFault[];
  readonly operations: readonly Operation[];
  readonly memory: readonly ActorMemory[];
  readonly invariants: readonly InvariantResult[];
  /** Set when the run could not be completed (troupe dev did not start, …). */
  readonly error?: string;
  readonly durationMs: number;
}

export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const ms = (n: number | undefined) =>
  n === undefined ? "–" : n < 1_000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(2)} s`;
const mib = (n: number | undefined) => (n === undefined ? "–" : (n / 1024 / 1024).toFixed(0));

function operationLines(kind: Operation["kind"], ops: readonly Operation[], loadMs: number): string[] {
  const mine = ops.filter((o) => o.kind === kind);
  const answered = mine.filter((o) => o.outcome === "answered");
  const refused = mine.filter((o) => o.outcome === "refused");
  const unanswered = mine.filter((o) => o.outcome === "no answer");
  const retried = answered.filter((o) => o.attempts > 1).length;
  const attempts = mine.reduce((n, o) => n + o.attempts, 0);
  const results = new Map<string, number>();
  for (const o of answered) results.set(o.result || "?", (results.get(o.result || "?") ?? 0) + 1);
  const failures = new Map<string, number>();
  for (const o of mine)
    for (const [k, v] of Object.entries(o.failures)) failures.set(k, (failures.get(k) ?? 0) + v);
  const lines = [
    `  ${kind}: ${mine.length} operations (${(mine.length / (loadMs / 1000)).toFixed(1)}/s), ${attempts} attempts; ` +
      `${answered.length} answered (${retried} after retries), ${refused.length} refused, ${unanswered.length} without an answer`,
  ];
  if (results.size > 0) lines.push(`    answers: ${[...results].map(([k, v]) => `${k} ${v}`).join(", ")}`);
  if (failures.size > 0)
    lines.push(`    failed attempts: ${[...failures].map(([k, v]) => `${k} × ${v}`).join(", ")}`);
  for (const o of refused.slice(0, 3)) lines.push(`    refused: ${o.result}`);
  return lines;
}

export function formatTopology(r: TopologyResult): string {
  const out: string[] = [];
  const passed = r.invariants.filter((i) => i.passed).length;
  out.push(`== chaos: ${r.topology} (${r.profile} profile), ${(r.durationMs / 1000).toFixed(0)} s ==`);
  for (const line of r.setup) out.push(`  ${line}`);
  if (r.error !== undefined) out.push(`  the run failed: ${r.error}`);

  out.push(`faults injected (${r.faults.length}):`);
  for (const f of r.faults) {
    out.push(
      `  +${(f.atMs / 1000).toFixed(1).padStart(6)} s  ${f.kind} ${f.target}${f.failed ? " (FAILED)" : ""}: ${f.detail}`,
    );
  }

  out.push(`operations (load ${(r.loadMs / 1000).toFixed(0)} s):`);
  out.push(...operationLines("RegisterUser", r.operations, r.loadMs));
  out.push(...operationLines("PlaceOrder", r.operations, r.loadMs));
  const orders = r.operations.filter((o) => o.kind === "PlaceOrder" && o.outcome === "answered");
  const total = orders.map((o) => o.endedAt - o.startedAt);
  const attempt = orders.map((o) => o.answerMs);
  out.push(
    `  PlaceOrder latency, first attempt to answer: p50 ${ms(percentile(total, 50))}, p99 ${ms(percentile(total, 99))}, max ${ms(percentile(total, 100))}`,
    `  PlaceOrder latency, the answered attempt:    p50 ${ms(percentile(attempt, 50))}, p99 ${ms(percentile(attempt, 99))}, max ${ms(percentile(attempt, 100))}`,
  );

  out.push("memory (RSS, MiB) of each actor's process at the start and at the end of the load:");
  for (const m of r.memory) {
    out.push(
      `  ${m.name.padEnd(10)} ${mib(m.startBytes).padStart(5)} → ${mib(m.endBytes).padStart(5)}${m.restarts > 0 ? `  (restarted ${m.restarts}×: the end is a later process)` : ""}`,
    );
  }

  out.push(`invariants (${passed} of ${r.invariants.length} hold):`);
  for (const i of r.invariants) {
    out.push(`  ${i.passed ? "PASS" : "FAIL"}  ${i.name}: ${i.summary}`);
    if (!i.passed) for (const d of i.details) out.push(`          ${d}`);
  }
  return out.join("\n");
}

const xmlText = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

export function junitXml(results: readonly TopologyResult[]): string {
  const suites = results.map((r) => {
    const failures = r.invariants.filter((i) => !i.passed).length;
    const cases = r.invariants.map((i) => {
      const open = `    <testcase classname="tests/chaos/${r.topology}" name="${xmlText(`${r.topology}: ${i.name}`)}" time="0">`;
      if (i.passed) return `${open}</testcase>`;
      const body = xmlText([i.summary, ...i.details].join("\n"));
      return `${open}\n      <failure message="${xmlText(i.summary)}">${body}</failure>\n    </testcase>`;
    });
    return [
      `  <testsuite name="chaos ${r.topology} (${r.profile})" tests="${r.invariants.length}" failures="${failures}" time="${(r.durationMs / 1000).toFixed(1)}">`,
      ...cases,
      "  </testsuite>",
    ].join("\n");
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="chaos">\n${suites.join("\n")}\n</testsuites>\n`;
}
