/**
 * bench/gateway driver: `GET /v1/products/{id}` through Troupe's gateway to an actor over NATS,
 * the same handler in an in-process Hono route, and GetProduct with the Connect protocol over
 * HTTP/2 straight to a connect-node server. The servers run in their own processes on each
 * runtime under test; the load generator (autocannon for HTTP/1.1, a node:http2 client for
 * Connect) in its own process on Node. Starts its own nats-server (never the system one), runs
 * every peer once per round, rotating the order of peers (and runtimes) from round to round so
 * that drift hits all of them alike, and prints Markdown tables of the medians over rounds.
 * Progress goes to stderr; the report to stdout.
 *
 *   node_modules/.bin/node bench/gateway/run.ts [--runtimes bun,node] [--rounds 3]
 *     [--peers gateway,hono,connect] [--concurrency 64] [--seconds 5] [--json results.json]
 *
 * See run-options.ts for every flag and bench/README.md for the method and the results.
 */
import { fileURLToPath } from "node:url";
import { startNatsServer } from "../../runtime/testing.ts";
import { rotated } from "../shared/rotated.ts";
import { writeReport } from "../shared/write-report.ts";
import { type Measurement, resultsTable } from "./results-table.ts";
import { runMeasurement } from "./run-measurement.ts";
import { parseRunOptions } from "./run-options.ts";

const options = parseRunOptions(process.argv.slice(2));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const log = (text: string) => process.stderr.write(`${text}\n`);

function summary({ run }: Measurement): string {
  if (run.kind === "failed") return `FAILED\n${run.reason}`;
  const r = run.result;
  return (
    `${Math.round(r.requestsPerSecond).toLocaleString("en-US")} req/s, ` +
    `p50 ${Math.round(r.p50Us)} µs, p99 ${Math.round(r.p99Us)} µs`
  );
}

const nats = await startNatsServer({ jetstream: false });
const measurements: Measurement[] = [];
const started = performance.now();
try {
  log(`nats-server ${nats.version} at ${nats.url}`);
  for (let round = 1; round <= options.rounds; round++) {
    for (const runtime of rotated(options.runtimes, round - 1)) {
      for (const peer of rotated(options.peers, round - 1)) {
        const run = await runMeasurement(runtime, peer, nats.url, options, repoRoot);
        const measurement: Measurement = { round, runtime, peer, run };
        measurements.push(measurement);
        log(`round ${round} ${runtime} ${peer}: ${summary(measurement)}`);
      }
    }
  }
} finally {
  await nats.dispose();
}

writeReport({
  driver: "bench/gateway/run.ts",
  startedMs: started,
  natsVersion: nats.version,
  table: resultsTable({ ...options, measurements }),
  failed: measurements.some((m) => m.run.kind === "failed"),
  jsonFile: options.jsonFile,
  json: { options, natsServer: nats.version, measurements },
});
