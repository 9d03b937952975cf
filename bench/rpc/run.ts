/**
 * bench/rpc driver: unary Echo calls through Troupe, raw nats.js `nc.request`, a minimal NATS
 * request multiplexer and Connect over HTTP/2, with client and server in separate processes,
 * on each runtime under test. Starts its own nats-server (never the system one), runs every
 * peer once per round, rotating the order of peers (and runtimes) from round to round so that
 * drift hits all of them alike, and prints Markdown tables of the medians over rounds.
 * Progress goes to stderr; the report to stdout.
 *
 *   node_modules/.bin/node bench/rpc/run.ts [--runtimes bun,node] [--rounds 3] [--seconds 3]
 *     [--peers raw,mux,connect,troupe] [--sizes 100,4096] [--json results.json]
 *
 * See run-options.ts for every flag and bench/README.md for the method and the results.
 */
import { fileURLToPath } from "node:url";
import { startNatsServer } from "../../runtime/testing.ts";
import { rotated } from "../shared/rotated.ts";
import { writeReport } from "../shared/write-report.ts";
import { type Measurement, resultsTable } from "./results-table.ts";
import { parseRunOptions } from "./run-options.ts";
import { runPeer } from "./run-peer.ts";

const options = parseRunOptions(process.argv.slice(2));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const log = (text: string) => process.stderr.write(`${text}\n`);

function summary(measurement: Measurement): string {
  const { run } = measurement;
  if (run.kind === "failed") return `FAILED\n${run.reason}`;
  return run.sizes
    .map(
      (s) =>
        `${s.sizeBytes} B: p50 ${Math.round(s.p50Us)} µs, p99 ${Math.round(s.p99Us)} µs, ` +
        `${Math.round(s.callsPerSecond).toLocaleString("en-US")} calls/s`,
    )
    .join("; ");
}

const nats = await startNatsServer({ jetstream: false });
const measurements: Measurement[] = [];
const started = performance.now();
try {
  log(`nats-server ${nats.version} at ${nats.url}`);
  for (let round = 1; round <= options.rounds; round++) {
    for (const runtime of rotated(options.runtimes, round - 1)) {
      for (const peer of rotated(options.peers, round - 1)) {
        const run = await runPeer(runtime, peer, nats.url, options, repoRoot);
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
  driver: "bench/rpc/run.ts",
  startedMs: started,
  natsVersion: nats.version,
  table: resultsTable({ ...options, measurements }),
  failed: measurements.some((m) => m.run.kind === "failed"),
  jsonFile: options.jsonFile,
  json: { options, natsServer: nats.version, measurements },
});
