/**
 * The Markdown report of a run: keyed calls against plain calls (calls/s and latency under load,
 * at one call in flight, and CPU time per call), the activation latencies, one instance's memory, and the move
 * times after a SIGKILL, each the median over rounds (over rounds and kills for the moves), with
 * the issue's targets marked (✓ met, ✗ missed). A measurement with no results is shown as
 * "failed", and each failure is listed under the tables.
 */
import { failureNotes } from "../shared/failure-notes.ts";
import { markdownReport } from "../shared/markdown-report.ts";
import { markdownTable } from "../shared/markdown-table.ts";
import { median } from "../shared/percentile.ts";
import { rate } from "../shared/rate.ts";
import { runtimeVersion } from "../shared/runtime-version.ts";
import type { RuntimeName } from "../shared/runtimes.ts";
import type { Latency, MemorySample, MethodResult } from "./child-line.ts";
import { type MeasurementName, MOVE_TIMINGS, type MoveName } from "./measurements.ts";
import type { KeyedResult, KillResult, Measurement } from "./results.ts";
import type { RunOptions } from "./run-options.ts";

/** The issue's targets (issue 15, item 7). */
export const TARGETS = {
  /** Keyed calls/s over plain calls/s at N in flight, on the path that writes nothing (Read): at least. */
  keyedVsPlain: 0.8,
  /** From the SIGKILL of an owner until every partition answers again: at most (ms). */
  moveMs: 5_000,
} as const;

export const METHOD_LABELS = { read: "Read (no write)", add: "Add (KV write per call)" } as const;

/** Every round's results of measurement `name` on `runtime`. */
export function resultsOf<K extends KeyedResult["measurement"]>(
  measurements: readonly Measurement[],
  runtime: RuntimeName,
  name: MeasurementName,
  kind: K,
): Extract<KeyedResult, { readonly measurement: K }>[] {
  return measurements.flatMap((m) =>
    m.runtime === runtime && m.peer === name && m.run.kind === "result" && m.run.result.measurement === kind
      ? [m.run.result as Extract<KeyedResult, { readonly measurement: K }>]
      : [],
  );
}

/** Every round's result of `method` on the plain or keyed service. */
export function methodResults(
  measurements: readonly Measurement[],
  runtime: RuntimeName,
  service: "plain" | "keyed",
  method: MethodResult["method"],
): MethodResult[] {
  return resultsOf(measurements, runtime, service, "calls").flatMap((r) =>
    r.methods.filter((m) => m.method === method),
  );
}

const medianOf = (values: readonly number[]) => (values.length === 0 ? undefined : median(values));
const latencyCell = (latencies: readonly Latency[]) =>
  latencies.length === 0
    ? "failed"
    : `${Math.round(median(latencies.map((l) => l.p50Us)))} / ${Math.round(median(latencies.map((l) => l.p99Us)))}`;
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function resultsTable(input: RunOptions, measurements: readonly Measurement[]): string {
  const { runtimes, peers } = input;
  const rounds = `median of ${input.rounds} round${input.rounds === 1 ? "" : "s"}`;
  const version = (runtime: RuntimeName) => runtimeVersion(measurements, runtime);
  const sections = [];

  if (peers.includes("plain") || peers.includes("keyed")) {
    const rows: string[][] = [];
    for (const runtime of runtimes) {
      for (const method of ["read", "add"] as const) {
        const plain = methodResults(measurements, runtime, "plain", method);
        const keyed = methodResults(measurements, runtime, "keyed", method);
        const calls = (results: readonly MethodResult[]) =>
          medianOf(results.map((r) => r.concurrent.callsPerSecond));
        const ratio =
          method === "read"
            ? targetRatioCell(calls(keyed), calls(plain), TARGETS.keyedVsPlain)
            : plainRatio(calls(keyed), calls(plain));
        rows.push([
          version(runtime),
          METHOD_LABELS[method],
          rateCell(calls(plain)),
          rateCell(calls(keyed)),
          ratio,
          latencyCell(plain.map((r) => r.concurrent)),
          latencyCell(keyed.map((r) => r.concurrent)),
          latencyCell(plain.map((r) => r.sequential)),
          latencyCell(keyed.map((r) => r.sequential)),
          cpuCell(plain, keyed, (r) => r.instanceCpuUsPerCall),
          cpuCell(plain, keyed, (r) => r.clientCpuUsPerCall),
        ]);
      }
    }
    sections.push({
      title: `Keyed calls vs plain calls, ${input.inFlight} in flight over ${rate(input.keys)} keys (${rounds})`,
      table: markdownTable(
        [
          "runtime",
          "method",
          "plain calls/s",
          "keyed calls/s",
          `keyed / plain (Read ≥ ${TARGETS.keyedVsPlain.toFixed(2)})`,
          `plain p50 / p99 µs, ${input.inFlight} in flight`,
          `keyed p50 / p99 µs, ${input.inFlight} in flight`,
          "plain p50 / p99 µs, 1 in flight",
          "keyed p50 / p99 µs, 1 in flight",
          "instance CPU µs per call, plain / keyed",
          "client CPU µs per call, plain / keyed",
        ],
        rows,
        2,
      ),
    });
  }

  if (peers.includes("activation")) {
    const rows = runtimes.map((runtime) => {
      const results = resultsOf(measurements, runtime, "activation", "activation");
      const p50 = (pick: (r: (typeof results)[number]) => Latency) =>
        medianOf(results.map((r) => pick(r).p50Us));
      return [
        version(runtime),
        latencyCell(results.map((r) => r.active)),
        latencyCell(results.map((r) => r.coldEmpty)),
        latencyCell(results.map((r) => r.coldStored)),
        plainRatio(
          p50((r) => r.coldStored),
          p50((r) => r.active),
        ),
      ];
    });
    sections.push({
      title: `First call to a key vs a call to an active key: p50 / p99 in µs, 1 call in flight (${rounds})`,
      table: markdownTable(
        [
          "runtime",
          "active key",
          "first call, no stored state",
          "first call, stored state",
          "p50 first (stored) / active",
        ],
        rows,
        1,
      ),
    });
  }

  if (peers.includes("memory")) {
    type MemoryResult = Extract<KeyedResult, { readonly measurement: "memory" }>;
    const memory = (runtime: RuntimeName) => resultsOf(measurements, runtime, "memory", "memory");
    const js = (s: MemorySample) => s.heapUsedBytes + s.externalBytes;
    const rows: string[][] = [];
    const row = (figure: string, cellOf: (results: readonly MemoryResult[]) => string) =>
      rows.push([figure, ...runtimes.map((runtime) => orFailed(memory(runtime), cellOf))]);
    const both = (pick: (r: MemoryResult) => MemorySample) => (results: readonly MemoryResult[]) =>
      `${mb(median(results.map((r) => pick(r).rssBytes)))} / ${mb(median(results.map((r) => js(pick(r)))))} MB`;
    const perKey =
      (pick: (r: MemoryResult) => MemorySample & { keys: number }) => (results: readonly MemoryResult[]) => {
        const perKeyOf = (r: MemoryResult, of: (s: MemorySample) => number) =>
          (of(pick(r)) - of(r.baseline)) / pick(r).keys;
        const heap = median(results.map((r) => perKeyOf(r, js)));
        const rss = median(results.map((r) => perKeyOf(r, (s) => s.rssBytes)));
        return `${Math.round(heap).toLocaleString("en-US")} / ${Math.round(rss).toLocaleString("en-US")} B`;
      };
    row(
      "fresh instance, before any call: RSS / JS heap + external",
      both((r) => r.fresh),
    );
    row(
      "baseline (after a warm-up, its actors passivated)",
      both((r) => r.baseline),
    );
    row(
      `${rate(input.activeKeys)} actors active`,
      both((r) => r.active),
    );
    row(
      "… per active actor, over the baseline: heap + external / RSS",
      perKey((r) => r.active),
    );
    row(
      `${rate(input.passivatedKeys)} more keys called once, all passivated`,
      both((r) => r.passivated),
    );
    row(
      "… per passivated key, over the baseline: heap + external / RSS",
      perKey((r) => r.passivated),
    );
    row("JS heap the runtime holds (heapTotal): fresh, active, passivated", (results) =>
      [results.map((r) => r.fresh), results.map((r) => r.active), results.map((r) => r.passivated)]
        .map((samples) => mb(median(samples.map((m) => m.heapTotalBytes))))
        .join(", ")
        .concat(" MB"),
    );
    row("active actors counted at each point (fresh, baseline, active, passivated)", (results) =>
      [
        ...new Set(
          results.map((r) => [r.fresh, r.baseline, r.active, r.passivated].map((s) => s.active).join(", ")),
        ),
      ].join("; "),
    );
    row("collection before each sample", (results) =>
      [...new Set(results.map((r) => r.fresh.gc))].join(", "),
    );
    sections.push({
      title: `One instance's memory after a forced collection (${rounds}; idleMs ${rate(input.idleMs)})`,
      table: markdownTable(["figure", ...runtimes.map(version)], rows, 1),
    });
  }

  const moves = peers.filter((peer): peer is MoveName => peer === "move" || peer === "move-2s");
  if (moves.length > 0) {
    const rows: string[][] = [];
    for (const name of moves) {
      const { leaseMs, renewMs } = MOVE_TIMINGS[name];
      const kills = (runtime: RuntimeName) =>
        resultsOf(measurements, runtime, name, "move").flatMap((r) => r.kills);
      const row = (figure: string, target: string, cellOf: (kills: readonly KillResult[]) => string) =>
        rows.push([figure, target, ...runtimes.map((runtime) => orFailed(kills(runtime), cellOf))]);
      const timing = `lease ${seconds(leaseMs)}, renewed every ${seconds(renewMs)}`;
      row(`${timing}: every partition answers again`, `≤ ${seconds(TARGETS.moveMs)}, every kill`, (k) =>
        spreadCell(
          k.map((kill) => kill.answeredMs),
          TARGETS.moveMs,
        ),
      );
      row("… the victim's membership expired (delete marker seen)", "", (k) =>
        spreadCell(
          k.flatMap((kill) => (kill.memberGoneMs === null ? [] : [kill.memberGoneMs])),
          undefined,
        ),
      );
      row("… the last of its partitions' leases taken by a survivor", "", (k) =>
        spreadCell(
          k.flatMap((kill) => (kill.leaseMs === null ? [] : [kill.leaseMs])),
          undefined,
        ),
      );
      row(
        "… partitions the victim owned (of 32), moved",
        "",
        (k) =>
          `${median(k.map((kill) => kill.victimPartitions))}, ${median(k.map((kill) => kill.moved))} (kills: ${k.length})`,
      );
    }
    sections.push({
      title: `Partition move after SIGKILL of one of 3 owners (median over rounds and kills; max in parentheses)`,
      table: markdownTable(["figure", "target", ...runtimes.map(version)], rows, 2),
    });
  }

  return markdownReport(
    sections,
    failureNotes(
      measurements,
      ({ round, runtime, peer }, reason) =>
        `- ${peer} failed on ${runtime} in round ${round}: ${reason.split("\n")[0]}`,
    ),
  );
}

/** `13.3 / 25.8`: the median CPU time per call of the plain and the keyed runs. */
function cpuCell(
  plain: readonly MethodResult[],
  keyed: readonly MethodResult[],
  pick: (result: MethodResult) => number,
): string {
  const cell = (results: readonly MethodResult[]) =>
    results.length === 0 ? "failed" : median(results.map(pick)).toFixed(1);
  return `${cell(plain)} / ${cell(keyed)}`;
}

/**
 * `0.83 ✓`: `a / b` against an at-least target, with a third decimal when two would round a miss
 * up to the target (`0.796 ✗`, not `0.80 ✗`).
 */
function targetRatioCell(a: number | undefined, b: number | undefined, limit: number): string {
  if (a === undefined || b === undefined) return "n/a";
  const value = a / b;
  const met = value >= limit;
  const text = !met && value.toFixed(2) === limit.toFixed(2) ? value.toFixed(3) : value.toFixed(2);
  return `${text} ${met ? "✓" : "✗"}`;
}

function rateCell(value: number | undefined): string {
  return value === undefined ? "failed" : rate(value);
}

/** `a / b` without a target (`n/a` without both). */
function plainRatio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? "n/a" : (a / b).toFixed(2);
}

function orFailed<T>(values: readonly T[], cellOf: (values: readonly T[]) => string): string {
  return values.length === 0 ? "failed" : cellOf(values);
}

/** `2.91 s (max 3.32 s) ✓`: the median, the worst, and whether the worst met the target, if any. */
function spreadCell(values: readonly number[], target: number | undefined): string {
  if (values.length === 0) return "n/a";
  const middle = median(values);
  const worst = Math.max(...values);
  const mark = target === undefined ? "" : ` ${worst <= target ? "✓" : "✗"}`;
  return `${seconds(middle)}${values.length > 1 ? ` (max ${seconds(worst)})` : ""}${mark}`;
}
