/**
 * The end of a benchmark run: the Markdown report on stdout (the command that produced it, the
 * machine, the tables), the raw results as JSON when asked, and exit code 1 if a peer failed.
 */
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { runtimeLabel } from "./runtime-label.ts";

export interface Report {
  /** The driver's path, as in `bench/rpc/run.ts`. */
  readonly driver: string;
  readonly startedMs: number;
  readonly natsVersion: string;
  readonly table: string;
  readonly failed: boolean;
  readonly jsonFile: string;
  readonly json: unknown;
}

export function writeReport(report: Report): void {
  const minutes = (performance.now() - report.startedMs) / 60_000;
  const command = [
    "node_modules/.bin/node",
    "--conditions=troupe-source",
    report.driver,
    ...process.argv.slice(2),
  ].join(" ");
  process.stdout.write(
    [
      `\`${command}\` — ${availableParallelism()} CPUs (${cpus()[0]?.model ?? "unknown"}), ` +
        `nats-server ${report.natsVersion}, driver on ${runtimeLabel()}, ${minutes.toFixed(1)} min`,
      "",
      report.table,
    ].join("\n"),
  );
  if (report.failed) process.exitCode = 1;
  if (report.jsonFile !== "") writeFileSync(report.jsonFile, `${JSON.stringify(report.json, null, 2)}\n`);
}
