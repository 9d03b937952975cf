/**
 * The loop every benchmark driver runs: starts its own nats-server (never the system one),
 * measures every peer on every runtime once per round, rotating the order of runtimes and peers
 * from round to round so that drift hits all of them alike, logs each measurement to stderr as
 * it ends, and writes the report (write-report.ts) with the benchmark's tables, and with
 * `--chart <file>` its main table as an SVG bar chart (bar-chart-svg.ts).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startNatsServer } from "troupe/testing";
import { type BarChart, barChartSvg } from "./bar-chart-svg.ts";
import type { CommonRunOptions } from "./common-run-options.ts";
import type { Measured, Measurement, Site } from "./measurement.ts";
import { rotated } from "./rotated.ts";
import { writeReport } from "./write-report.ts";

export interface Driver<Peer extends string, Part extends Measured> {
  /** The driver's path, as in `bench/rpc/run.ts`. */
  readonly path: string;
  readonly options: CommonRunOptions<Peer>;
  /** Whether the nats-server runs JetStream. */
  readonly jetstream: boolean;
  /** Measures one peer on one runtime: one measurement, or one per payload size, in turn. */
  measure(site: Site<Peer>): AsyncIterable<Part>;
  /** The progress line's text for a measurement with results. */
  summary(run: Extract<Part["run"], { readonly kind: "result" }>): string;
  /** The report's Markdown tables. */
  table(measurements: readonly Measurement<Peer, Part>[]): string;
  /** The main table's numbers as a chart, drawn when the run is given `--chart <file>`. */
  chart(measurements: readonly Measurement<Peer, Part>[]): BarChart;
}

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const log = (text: string) => process.stderr.write(`${text}\n`);

export async function runDriver<Peer extends string, Part extends Measured>(
  driver: Driver<Peer, Part>,
): Promise<void> {
  const { options } = driver;
  const nats = await startNatsServer({ jetstream: driver.jetstream });
  const measurements: Measurement<Peer, Part>[] = [];
  const started = performance.now();
  try {
    log(
      `nats-server ${nats.version} at ${nats.url}${driver.jetstream ? `, JetStream store in ${nats.dir}` : ""}`,
    );
    for (let round = 1; round <= options.rounds; round++) {
      for (const runtime of rotated(options.runtimes, round - 1)) {
        for (const peer of rotated(options.peers, round - 1)) {
          for await (const part of driver.measure({ runtime, peer, natsUrl: nats.url, repoRoot })) {
            measurements.push({ round, runtime, peer, ...part });
            const size = part.sizeBytes === undefined ? "" : ` ${part.sizeBytes} B`;
            const { run } = part;
            const text =
              run.kind === "failed"
                ? `FAILED\n${run.reason}`
                : driver.summary(run as Extract<Part["run"], { readonly kind: "result" }>);
            log(`round ${round} ${runtime} ${peer}${size}: ${text}`);
          }
        }
      }
    }
  } finally {
    await nats.dispose();
  }

  writeReport({
    driver: driver.path,
    startedMs: started,
    natsVersion: nats.version,
    table: driver.table(measurements),
    failed: measurements.some((m) => m.run.kind === "failed"),
    jsonFile: options.jsonFile,
    json: { options, natsServer: nats.version, measurements },
  });
  if (options.chartFile !== "") {
    writeFileSync(options.chartFile, barChartSvg(driver.chart(measurements)));
    log(`chart written to ${options.chartFile}`);
  }
}
