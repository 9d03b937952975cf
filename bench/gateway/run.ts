/**
 * bench/gateway driver: `GET /v1/products/{id}` through Troupe's gateway to an actor over NATS,
 * the same handler in an in-process Hono route, and GetProduct with the Connect protocol over
 * HTTP/2 straight to a connect-node server; by name, moleculer-web in front of a Moleculer service and
 * a NestJS HTTP controller in front of a Nest microservice, both over NATS. The servers run in their own processes on each
 * runtime under test; the load generator (autocannon for HTTP/1.1, a node:http2 client for
 * Connect) in its own process on Node. Starts its own nats-server (never the system one), runs
 * every peer once per round, rotating the order of peers (and runtimes) from round to round so
 * that drift hits all of them alike, and prints Markdown tables of the medians over rounds
 * (shared/run-driver.ts). Progress goes to stderr; the report to stdout.
 *
 *   node_modules/.bin/node --conditions=troupe-source bench/gateway/run.ts [--runtimes bun,node] [--rounds 3]
 *     [--peers gateway,hono,connect,moleculer,nestjs] [--concurrency 64] [--seconds 5] [--json results.json]
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
  path: "bench/gateway/run.ts",
  options,
  jetstream: false,
  async *measure(site) {
    yield { run: await runMeasurement(site, options) };
  },
  summary: ({ result: r }) =>
    `${rate(r.requestsPerSecond)} req/s, p50 ${Math.round(r.p50Us)} µs, p99 ${Math.round(r.p99Us)} µs`,
  table: (measurements) => resultsTable(options, measurements),
  chart: (measurements) => resultsChart(options, measurements),
});
