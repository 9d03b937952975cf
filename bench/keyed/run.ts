/**
 * bench/keyed driver: keyed virtual actors (docs/adr/0032-keyed-virtual-actors.md) measured on
 * each runtime under test, in one run: keyed calls against the same calls on a plain service
 * (N in flight over 1,000 keys, a method that writes nothing and one that writes KV), the
 * latency of a key's first call, one instance's memory with actors active and passivated, and
 * the time until every partition answers again after an owner is SIGKILLed. Starts its own
 * nats-server with JetStream (never the system one), runs every measurement once per round,
 * rotating their order (and the runtimes') from round to round, and prints Markdown tables of
 * the medians against issue 15's targets (shared/run-driver.ts). Progress goes to stderr; the
 * report to stdout.
 *
 *   node_modules/.bin/node --conditions=troupe-source bench/keyed/run.ts [--runtimes bun,node] [--rounds 3]
 *     [--peers plain,keyed,activation,memory,move,move-2s] [--seconds 3] [--in-flight 64] [--keys 1000]
 *     [--kills 3] [--json results.json] [--chart keyed.svg]
 *
 * See run-options.ts for every flag and bench/README.md for the method and the results.
 */
import { rate } from "../shared/rate.ts";
import { runDriver } from "../shared/run-driver.ts";
import type { Latency } from "./child-line.ts";
import type { KeyedResult } from "./results.ts";
import { resultsChart } from "./results-chart.ts";
import { resultsTable } from "./results-table.ts";
import { runMeasurement } from "./run-measurement.ts";
import { parseRunOptions } from "./run-options.ts";

const options = parseRunOptions(process.argv.slice(2));

const us = (l: Latency) => `p50 ${Math.round(l.p50Us)} µs, p99 ${Math.round(l.p99Us)} µs`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const s = (ms: number | null) => (ms === null ? "?" : `${(ms / 1000).toFixed(2)} s`);

function summary(result: KeyedResult): string {
  switch (result.measurement) {
    case "calls":
      return result.methods
        .map(
          (m) =>
            `${m.method}: ${rate(m.concurrent.callsPerSecond)} calls/s (${us(m.concurrent)}, CPU per call ` +
            `${m.instanceCpuUsPerCall.toFixed(1)} µs instance, ${m.clientCpuUsPerCall.toFixed(1)} µs client); ` +
            `1 in flight ${us(m.sequential)}`,
        )
        .join("; ");
    case "activation":
      return `active ${us(result.active)}; first, no state ${us(result.coldEmpty)}; first, stored ${us(result.coldStored)}`;
    case "memory":
      return [result.fresh, result.baseline, result.active, result.passivated]
        .map(
          (m, i) =>
            `${["fresh", "baseline", "active", "passivated"][i]}: RSS ${mb(m.rssBytes)}, heap ${mb(m.heapUsedBytes)} + ${mb(m.externalBytes)} (${m.active} active)`,
        )
        .join("; ");
    case "move":
      return result.kills
        .map(
          (k) =>
            `${k.victimPartitions} partitions: member gone ${s(k.memberGoneMs)}, leases ${s(k.leaseMs)}, answering ${s(k.answeredMs)}`,
        )
        .join("; ");
  }
}

await runDriver({
  path: "bench/keyed/run.ts",
  options,
  jetstream: true,
  async *measure(site) {
    yield { run: await runMeasurement(site, options) };
  },
  summary: ({ result }) => summary(result),
  table: (measurements) => resultsTable(options, measurements),
  chart: (measurements) => resultsChart(options, measurements),
});
