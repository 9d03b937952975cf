/**
 * bench/events driver: JetStream events published and consumed through Troupe and through raw
 * nats.js JetStream, each measurement in its own process on each runtime under test. Starts its
 * own nats-server with JetStream (never the system one), runs every peer once per round for
 * each payload size, rotating the order of peers (and runtimes) from round to round so that
 * drift hits all of them alike, and prints Markdown tables of the medians over rounds.
 * Progress goes to stderr; the report to stdout.
 *
 *   node_modules/.bin/node bench/events/run.ts [--runtimes bun,node] [--rounds 3]
 *     [--peers raw,troupe] [--sizes 100,4096] [--seconds 5] [--messages 200000] [--json results.json]
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
const rate = (n: number) => Math.round(n).toLocaleString("en-US");

function summary({ run }: Measurement): string {
  switch (run.kind) {
    case "failed":
      return `FAILED\n${run.reason}`;
    case "result": {
      const r = run.result;
      return (
        `${rate(r.publishesPerSecond)} publishes/s, ` +
        `${rate(r.consumedPerSecond)} consumed/s (${rate(r.consumed)} events in ${r.consumeSeconds.toFixed(2)} s after warm-up)`
      );
    }
  }
}

const nats = await startNatsServer({ jetstream: true });
const measurements: Measurement[] = [];
const started = performance.now();
try {
  log(`nats-server ${nats.version} at ${nats.url}, JetStream store in ${nats.dir}`);
  for (let round = 1; round <= options.rounds; round++) {
    for (const runtime of rotated(options.runtimes, round - 1)) {
      for (const peer of rotated(options.peers, round - 1)) {
        for (const sizeBytes of options.sizes) {
          const run = await runMeasurement(runtime, peer, sizeBytes, nats.url, options, repoRoot);
          const measurement: Measurement = { round, runtime, peer, sizeBytes, run };
          measurements.push(measurement);
          log(`round ${round} ${runtime} ${peer} ${sizeBytes} B: ${summary(measurement)}`);
        }
      }
    }
  }
} finally {
  await nats.dispose();
}

writeReport({
  driver: "bench/events/run.ts",
  startedMs: started,
  natsVersion: nats.version,
  table: resultsTable({ ...options, measurements }),
  failed: measurements.some((m) => m.run.kind === "failed"),
  jsonFile: options.jsonFile,
  json: { options, natsServer: nats.version, measurements },
});
