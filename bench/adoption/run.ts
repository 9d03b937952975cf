/**
 * bench/adoption driver: the figures users ask for before adopting Troupe, on each runtime under
 * test: how long an actor process takes from start to discoverable in `$SRV` and how much memory
 * it holds when idle, how long Troupe's discovery takes to list 1,000 instances, and how long an
 * event takes from publish to handled at a steady 5,000 events/s. Starts its own nats-server
 * with JetStream (never the system one), runs every measurement once per round, rotating their
 * order (and the runtimes') from round to round, and prints a Markdown table of the medians
 * against the targets (shared/run-driver.ts). Progress goes to stderr; the report to stdout.
 *
 *   node_modules/.bin/node --conditions=troupe-source bench/adoption/run.ts [--runtimes bun,node] [--rounds 3]
 *     [--peers startup,discovery,events] [--starts 3] [--instances 1000] [--event-rate 5000] [--seconds 5]
 *     [--json results.json] [--chart adoption.svg]
 *
 * See run-options.ts for every flag and bench/README.md for the method and the results.
 */
import { runDriver } from "../shared/run-driver.ts";
import type { AdoptionResult } from "./results.ts";
import { resultsChart } from "./results-chart.ts";
import { resultsTable } from "./results-table.ts";
import { runMeasurement } from "./run-measurement.ts";
import { parseRunOptions } from "./run-options.ts";

const options = parseRunOptions(process.argv.slice(2));

function summary(result: AdoptionResult): string {
  const list = (values: readonly number[], digits: number) => values.map((v) => v.toFixed(digits)).join(", ");
  switch (result.measurement) {
    case "startup":
    case "bundled":
    case "bare":
      return (
        `discoverable after ${list(
          result.starts.map((s) => s.readyMs),
          0,
        )} ms; ` +
        `idle RSS ${list(
          result.starts.map((s) => s.rssMB),
          1,
        )} MB`
      );
    case "discovery":
      return result.runs
        .map(
          (r) =>
            `${r.found} of ${result.instances} in ${r.discoverMs.toFixed(0)} ms (last reply ${r.lastReplyMs.toFixed(0)} ms)`,
        )
        .join("; ");
    case "events": {
      const e = result.events;
      return (
        `${e.handled} of ${e.measured} handled at ${e.achievedRate.toFixed(0)}/s: ` +
        `p50 ${e.p50Ms.toFixed(2)} ms, p99 ${e.p99Ms.toFixed(2)} ms, max ${e.maxMs.toFixed(2)} ms ` +
        `(acked: p50 ${e.ackP50Ms.toFixed(2)} ms, p99 ${e.ackP99Ms.toFixed(2)} ms), ` +
        `${e.cpuUsPerEvent.toFixed(0)} µs CPU per event` +
        (e.publishFailures > 0 ? `, ${e.publishFailures} publishes failed` : "")
      );
    }
  }
}

await runDriver({
  path: "bench/adoption/run.ts",
  options,
  jetstream: true,
  async *measure(site) {
    yield { run: await runMeasurement(site, options) };
  },
  summary: ({ result }) => summary(result),
  table: (measurements) => resultsTable(options, measurements),
  chart: (measurements) => resultsChart(options, measurements),
});
