/**
 * bench/events driver: JetStream events published and consumed through Troupe and through raw
 * nats.js JetStream, each measurement in its own process on each runtime under test. Starts its
 * own nats-server with JetStream (never the system one), runs every peer once per round for
 * each payload size, rotating the order of peers (and runtimes) from round to round so that
 * drift hits all of them alike, and prints Markdown tables of the medians over rounds
 * (shared/run-driver.ts). Progress goes to stderr; the report to stdout.
 *
 *   node_modules/.bin/node --conditions=troupe-source bench/events/run.ts [--runtimes bun,node] [--rounds 3]
 *     [--peers raw,troupe] [--sizes 100,4096] [--seconds 5] [--messages 200000] [--json results.json]
 *
 * See run-options.ts for every flag and bench/README.md for the method and the results.
 */
import { rate } from "../shared/rate.ts";
import { runDriver } from "../shared/run-driver.ts";
import { resultsChart } from "./results-chart.ts";
import { resultsTable } from "./results-table.ts";
import { runMeasurement } from "./run-measurement.ts";
import { parseRunOptions } from "./run-options.ts";

const options = parseRunOptions(process.argv.slice(2));

await runDriver({
  path: "bench/events/run.ts",
  options,
  jetstream: true,
  async *measure(site) {
    for (const sizeBytes of options.sizes) {
      yield { sizeBytes, run: await runMeasurement(site, sizeBytes, options) };
    }
  },
  summary: ({ result: r }) =>
    `${rate(r.publishesPerSecond)} publishes/s, ` +
    `${rate(r.consumedPerSecond)} consumed/s (${rate(r.consumed)} events in ${r.consumeSeconds.toFixed(2)} s after warm-up)`,
  table: (measurements) => resultsTable(options, measurements),
  chart: (measurements) => resultsChart(options, measurements),
});
