/**
 * bench/rpc driver: unary Echo calls through Troupe, raw nats.js `nc.request`, a minimal NATS
 * request multiplexer and Connect over HTTP/2, with client and server in separate processes,
 * on each runtime under test. Starts its own nats-server (never the system one), runs every
 * peer once per round, rotating the order of peers (and runtimes) from round to round so that
 * drift hits all of them alike, and prints Markdown tables of the medians over rounds
 * (shared/run-driver.ts). Progress goes to stderr; the report to stdout.
 *
 *   node_modules/.bin/node bench/rpc/run.ts [--runtimes bun,node] [--rounds 3] [--seconds 3]
 *     [--peers raw,mux,connect,troupe] [--sizes 100,4096] [--json results.json]
 *
 * See run-options.ts for every flag and bench/README.md for the method and the results.
 */
import { rate } from "../shared/rate.ts";
import { runDriver } from "../shared/run-driver.ts";
import { resultsTable } from "./results-table.ts";
import { runMeasurement } from "./run-measurement.ts";
import { parseRunOptions } from "./run-options.ts";

const options = parseRunOptions(process.argv.slice(2));

await runDriver({
  path: "bench/rpc/run.ts",
  options,
  jetstream: false,
  async *measure(site) {
    yield { run: await runMeasurement(site, options) };
  },
  summary: (run) =>
    run.sizes
      .map(
        (s) =>
          `${s.sizeBytes} B: p50 ${Math.round(s.p50Us)} µs, p99 ${Math.round(s.p99Us)} µs, ` +
          `${rate(s.callsPerSecond)} calls/s`,
      )
      .join("; "),
  table: (measurements) => resultsTable(options, measurements),
});
