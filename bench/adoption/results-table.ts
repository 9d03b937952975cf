/**
 * The Markdown report of a run: one row per figure, one column per runtime, each figure against
 * its target (✓ met, ✗ missed; judged on the median, the worst value beside it). A measurement
 * with no results is shown as "failed", and each failure is listed under the table. Also the
 * figures with a target as shares of it, for the chart (results-chart.ts).
 */
import { failureNotes } from "../shared/failure-notes.ts";
import { markdownReport } from "../shared/markdown-report.ts";
import { markdownTable } from "../shared/markdown-table.ts";
import { median } from "../shared/percentile.ts";
import { rate } from "../shared/rate.ts";
import { runtimeVersion } from "../shared/runtime-version.ts";
import type { RuntimeName } from "../shared/runtimes.ts";
import type { DiscoveryRun, EventsResult } from "./child-line.ts";
import type { MeasurementName } from "./measurements.ts";
import type { AdoptionResult, Measurement, StartMeasurement, StartResult } from "./results.ts";
import type { RunOptions } from "./run-options.ts";

/** The issue's targets. */
export const TARGETS = {
  /** From process start to answering `$SRV.PING`, at most (ms). */
  readyMs: 300,
  /** An idle actor's resident memory on Bun, at most (MB). */
  idleRssMB: 50,
  /** Discovering every instance, at most (ms). */
  discoveryMs: 1000,
} as const;

/** Every round's results of measurement `kind` on `runtime`. */
function resultsOf(
  measurements: readonly Measurement[],
  runtime: RuntimeName,
  kind: MeasurementName,
): AdoptionResult[] {
  return measurements.flatMap((m) =>
    m.runtime === runtime && m.peer === kind && m.run.kind === "result" ? [m.run.result] : [],
  );
}

export const startsOf = (
  measurements: readonly Measurement[],
  runtime: RuntimeName,
  kind: StartMeasurement = "startup",
): StartResult[] =>
  resultsOf(measurements, runtime, kind).flatMap((r) =>
    r.measurement === "startup" || r.measurement === "bundled" || r.measurement === "bare" ? r.starts : [],
  );
export const discoveriesOf = (measurements: readonly Measurement[], runtime: RuntimeName): DiscoveryRun[] =>
  resultsOf(measurements, runtime, "discovery").flatMap((r) => (r.measurement === "discovery" ? r.runs : []));
export const eventsOf = (measurements: readonly Measurement[], runtime: RuntimeName): EventsResult[] =>
  resultsOf(measurements, runtime, "events").flatMap((r) => (r.measurement === "events" ? [r.events] : []));

const mark = (met: boolean) => (met ? "✓" : "✗");
const ms = (value: number) => `${Math.round(value)} ms`;
const seconds = (value: number) => `${(value / 1000).toFixed(2)} s`;
const mb = (value: number) => `${value.toFixed(1)} MB`;

/** `182 ms (max 240) ✓`: the median, the worst, and the mark when there is a target. */
function cell(
  values: readonly number[],
  format: (value: number) => string,
  target: number | undefined,
): string {
  if (values.length === 0) return "failed";
  const middle = median(values);
  const worst = Math.max(...values);
  const spread = values.length > 1 ? ` (max ${format(worst)})` : "";
  return `${format(middle)}${spread}${target === undefined ? "" : ` ${mark(middle <= target)}`}`;
}

/** Each figure with a target, as its median's share of the target (1 = on target; lower is better). */
export function targetShares(
  measurements: readonly Measurement[],
  runtime: RuntimeName,
): { readonly figure: string; readonly share: number | undefined }[] {
  const share = (values: readonly number[], target: number) =>
    values.length === 0 ? undefined : median(values) / target;
  const starts = startsOf(measurements, runtime);
  return [
    {
      figure: "start →\ndiscoverable",
      share: share(
        starts.map((s) => s.readyMs),
        TARGETS.readyMs,
      ),
    },
    {
      figure: "idle RSS\n(target on Bun)",
      share: share(
        starts.map((s) => s.rssMB),
        TARGETS.idleRssMB,
      ),
    },
    {
      figure: "discovery of\nthe instances",
      share: share(
        discoveriesOf(measurements, runtime).map((d) => d.discoverMs),
        TARGETS.discoveryMs,
      ),
    },
  ];
}

export function resultsTable(input: RunOptions, measurements: readonly Measurement[]): string {
  const runtimes = input.runtimes;
  const runs = input.peers;
  const rows: string[][] = [];
  const row = (figure: string, target: string, cellOf: (runtime: RuntimeName) => string) =>
    rows.push([figure, target, ...runtimes.map(cellOf)]);

  if (runs.includes("startup")) {
    row("process start → answers `$SRV.PING`", `≤ ${TARGETS.readyMs} ms`, (runtime) =>
      cell(
        startsOf(measurements, runtime).map((s) => s.readyMs),
        ms,
        TARGETS.readyMs,
      ),
    );
    row(
      `idle actor RSS (VmRSS after ${input.idleSeconds} s idle)`,
      `≤ ${TARGETS.idleRssMB} MB on Bun`,
      (runtime) =>
        cell(
          startsOf(measurements, runtime).map((s) => s.rssMB),
          mb,
          runtime === "bun" ? TARGETS.idleRssMB : undefined,
        ),
    );
  }
  if (runs.includes("bundled")) {
    row(
      "… bundled by `troupe build` (`--target bun` on Bun, `node` elsewhere): start",
      `≤ ${TARGETS.readyMs} ms`,
      (runtime) =>
        cell(
          startsOf(measurements, runtime, "bundled").map((s) => s.readyMs),
          ms,
          TARGETS.readyMs,
        ),
    );
    row("… bundled: idle RSS", `≤ ${TARGETS.idleRssMB} MB on Bun`, (runtime) =>
      cell(
        startsOf(measurements, runtime, "bundled").map((s) => s.rssMB),
        mb,
        runtime === "bun" ? TARGETS.idleRssMB : undefined,
      ),
    );
  }
  if (runs.includes("bare")) {
    row("… floor: a bare nats.js process answering that PING", "", (runtime) =>
      cell(
        startsOf(measurements, runtime, "bare").map((s) => s.readyMs),
        ms,
        undefined,
      ),
    );
    row("… floor: its idle RSS", "", (runtime) =>
      cell(
        startsOf(measurements, runtime, "bare").map((s) => s.rssMB),
        mb,
        undefined,
      ),
    );
  }
  if (runs.includes("discovery")) {
    const instances = input.instances.toLocaleString("en-US");
    row(
      `discovery of ${instances} instances (\`discoverServing\`)`,
      `≤ ${seconds(TARGETS.discoveryMs)}`,
      (runtime) => {
        const discoveries = discoveriesOf(measurements, runtime);
        const text = cell(
          discoveries.map((d) => d.discoverMs),
          seconds,
          TARGETS.discoveryMs,
        );
        const fewest = Math.min(...discoveries.map((d) => d.found));
        return discoveries.length === 0 || fewest === input.instances
          ? text
          : `${text}, found only ${fewest} ✗`;
      },
    );
    row("… of which the last `$SRV.INFO` reply arrived after", "", (runtime) =>
      cell(
        discoveriesOf(measurements, runtime).map((d) => d.lastReplyMs),
        seconds,
        undefined,
      ),
    );
  }
  if (runs.includes("events")) {
    const events = (runtime: RuntimeName) => eventsOf(measurements, runtime);
    const eventRate = rate(input.eventRate);
    row(`events at ${eventRate}/s, publish → handled: p50`, "", (runtime) =>
      cell(
        events(runtime).map((e) => e.p50Ms),
        (v) => `${v.toFixed(1)} ms`,
        undefined,
      ),
    );
    row(`events at ${eventRate}/s, publish → handled: p99`, "", (runtime) =>
      cell(
        events(runtime).map((e) => e.p99Ms),
        (v) => `${v.toFixed(1)} ms`,
        undefined,
      ),
    );
    row("… publish → acknowledged by the stream: p50 / p99", "", (runtime) => {
      const results = events(runtime);
      if (results.length === 0) return "failed";
      const p50 = median(results.map((e) => e.ackP50Ms));
      const p99 = median(results.map((e) => e.ackP99Ms));
      return `${p50.toFixed(1)} / ${p99.toFixed(1)} ms`;
    });
    row("… CPU time of the publishing and handling process per event", "", (runtime) =>
      cell(
        events(runtime).map((e) => e.cpuUsPerEvent),
        (v) => `${Math.round(v)} µs`,
        undefined,
      ),
    );
    row("… events published per second, handled of published", "", (runtime) => {
      const results = events(runtime);
      if (results.length === 0) return "failed";
      const handled = results.reduce((sum, e) => sum + e.handled, 0);
      const measured = results.reduce((sum, e) => sum + e.measured, 0);
      const failures = results.reduce((sum, e) => sum + e.publishFailures, 0);
      return (
        `${rate(median(results.map((e) => e.achievedRate)))}/s, ${rate(handled)} of ${rate(measured)}` +
        (failures > 0 ? `, ${rate(failures)} publishes failed` : "")
      );
    });
  }

  const counts =
    input.peers.includes("startup") || input.peers.includes("bare")
      ? `, ${input.starts} starts per round`
      : "";
  return markdownReport(
    [
      {
        title: `Adoption figures (median over ${input.rounds} round${input.rounds === 1 ? "" : "s"}${counts}; max in parentheses)`,
        table: markdownTable(
          ["figure", "target", ...runtimes.map((runtime) => runtimeVersion(measurements, runtime))],
          rows,
          2,
        ),
      },
    ],
    failureNotes(
      measurements,
      ({ round, runtime, peer }, reason) =>
        `- ${peer} failed on ${runtime} in round ${round}: ${reason.split("\n")[0]}`,
    ),
  );
}
