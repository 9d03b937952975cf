/**
 * bench/events driver: JetStream events published and consumed through Troupe and through raw
 * nats.js JetStream, each measurement in its own process on each runtime under test; by name
 * also Troupe on a nats-server that syncs every write to disk ("troupe-sync") and RabbitMQ
 * through amqplib ("rabbitmq"). Starts its own nats-servers with JetStream (never the system
 * one), runs every peer once per round for each payload size, rotating the order of peers (and
 * runtimes) from round to round so that drift hits all of them alike, and prints Markdown tables
 * of the medians over rounds (shared/run-driver.ts). Progress goes to stderr; the report to stdout.
 *
 *   node_modules/.bin/node --conditions=troupe-source bench/events/run.ts [--runtimes bun,node] [--rounds 3]
 *     [--peers raw,troupe,troupe-sync,rabbitmq] [--sizes 100,4096] [--seconds 5] [--messages 200000] [--json results.json]
 *
 * See run-options.ts for every flag and bench/README.md for the method and the results.
 */
import { rate } from "../shared/rate.ts";
import { runDriver } from "../shared/run-driver.ts";
import {
  AMQP_QUEUE_ENV,
  AMQP_URL_ENV,
  amqpUnavailable,
  DEFAULT_AMQP_URL,
  deleteQueue,
  runQueueName,
} from "./rabbitmq-queue.ts";
import { resultsChart } from "./results-chart.ts";
import { resultsTable } from "./results-table.ts";
import { runMeasurement } from "./run-measurement.ts";
import { parseRunOptions } from "./run-options.ts";
import { startSyncingNatsServer } from "./syncing-nats-server.ts";

const asked = parseRunOptions(process.argv.slice(2));
const log = (text: string) => process.stderr.write(`${text}\n`);

// RabbitMQ: the broker this machine runs, one durable queue unique to the run. A broker that is
// not there skips the peer with a note, rather than failing every one of its measurements.
const notes: string[] = [];
const amqpUrl = process.env[AMQP_URL_ENV] || DEFAULT_AMQP_URL;
let amqpQueue: string | undefined;
let peers = asked.peers;
if (peers.includes("rabbitmq")) {
  const why = await amqpUnavailable(amqpUrl);
  if (why === undefined) {
    amqpQueue = runQueueName();
    process.env[AMQP_URL_ENV] = amqpUrl;
    process.env[AMQP_QUEUE_ENV] = amqpQueue;
    log(`RabbitMQ at ${amqpUrl.replace(/\/\/[^@]*@/, "//")}, queue ${amqpQueue}`);
  } else {
    const note = `- RabbitMQ (amqplib) skipped: no broker at ${amqpUrl.replace(/\/\/[^@]*@/, "//")} (${why})`;
    log(note.slice(2));
    notes.push(note);
    peers = peers.filter((peer) => peer !== "rabbitmq");
  }
}
const options = { ...asked, peers };

// "troupe-sync": the Troupe peer on a second nats-server whose JetStream fsyncs every write.
const syncing = peers.includes("troupe-sync") ? await startSyncingNatsServer() : undefined;
if (syncing !== undefined) log(`nats-server ${syncing.version} with sync_interval: always at ${syncing.url}`);

try {
  await runDriver({
    path: "bench/events/run.ts",
    options,
    jetstream: true,
    async *measure(site) {
      const natsUrl = site.peer === "troupe-sync" && syncing !== undefined ? syncing.url : site.natsUrl;
      for (const sizeBytes of options.sizes) {
        yield { sizeBytes, run: await runMeasurement({ ...site, natsUrl }, sizeBytes, options) };
      }
    },
    summary: ({ result: r }) =>
      `${rate(r.publishesPerSecond)} publishes/s, ` +
      `${rate(r.consumedPerSecond)} consumed/s (${rate(r.consumed)} events in ${r.consumeSeconds.toFixed(2)} s after warm-up)`,
    table: (measurements) => resultsTable(options, measurements, notes),
    chart: (measurements) => resultsChart(options, measurements),
  });
} finally {
  await syncing?.dispose();
  // The measuring processes delete the queue when they end well; this covers the others.
  if (amqpQueue !== undefined) {
    await deleteQueue(amqpUrl, amqpQueue).catch((err: unknown) =>
      log(
        `could not delete RabbitMQ queue ${amqpQueue}: ${err instanceof Error ? err.message : String(err)}`,
      ),
    );
  }
}
