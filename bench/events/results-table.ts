/**
 * The Markdown report of a run: medians over rounds of each peer's publishes/s and events
 * consumed and acknowledged per second, per runtime and payload size, with Troupe's ratios
 * against the targets; with several rounds each cell also shows the range over them. A
 * peer with no results is shown as "failed", and each failed run is listed under the tables.
 */
import { median } from "../rpc/percentile.ts";
import type { RuntimeName } from "../rpc/runtimes.ts";
import type { EventsResult } from "./child-line.ts";
import { PEER_NAMES, PEERS, type PeerName } from "./peers.ts";
import type { MeasurementRun } from "./run-measurement.ts";
import { messagesFor, type RunOptions } from "./run-options.ts";

export interface Measurement {
  readonly round: number;
  readonly runtime: RuntimeName;
  readonly peer: PeerName;
  readonly sizeBytes: number;
  readonly run: MeasurementRun;
}

/** The targets for Troupe, same run, same runtime: at least this share of raw JetStream. */
export const TARGETS = {
  publishVsRaw: 0.9,
  consumeVsRaw: 0.9,
} as const;

export interface TableInput extends RunOptions {
  readonly measurements: readonly Measurement[];
}

/** The line of a failure that says what went wrong: the first naming an error, else the first. */
function telling(reason: string): string {
  const lines = reason.split("\n").map((line) => line.trim());
  return lines.find((line) => /^\w*Error\b|^error:/i.test(line)) ?? lines[0] ?? reason;
}

/** Which number of a result a table shows. */
type Pick = (result: EventsResult) => number;

export function resultsTable(input: TableInput): string {
  const { runtimes, sizes, measurements } = input;
  // Columns in the canonical order, whatever order the peers ran in.
  const peers = PEER_NAMES.filter((peer) => input.peers.includes(peer));
  const runsOf = (runtime: RuntimeName, peer: PeerName, size: number) =>
    measurements
      .filter((m) => m.runtime === runtime && m.peer === peer && m.sizeBytes === size)
      .map((m) => m.run);
  /** One number of every round's result. */
  const valuesOf = (runtime: RuntimeName, peer: PeerName, size: number, pick: Pick) =>
    runsOf(runtime, peer, size).flatMap((run) => (run.kind === "result" ? [pick(run.result)] : []));
  const medianOf = (runtime: RuntimeName, peer: PeerName, size: number, pick: Pick) => {
    const values = valuesOf(runtime, peer, size, pick);
    return values.length === 0 ? undefined : median(values);
  };
  /** The median, and with more than one round the range in thousands: `52,955 (49.8–55.1k)`. */
  const cell = (runtime: RuntimeName, peer: PeerName, size: number, pick: Pick) => {
    const values = valuesOf(runtime, peer, size, pick);
    if (values.length === 0) return "failed";
    const text = Math.round(median(values)).toLocaleString("en-US");
    if (values.length === 1) return text;
    const k = (n: number) => (n / 1000).toFixed(1);
    return `${text} (${k(Math.min(...values))}–${k(Math.max(...values))}k)`;
  };
  const versionOf = (runtime: RuntimeName) => {
    for (const m of measurements) {
      if (m.runtime === runtime && m.run.kind === "result") return m.run.runtimeVersion;
    }
    return runtime;
  };
  const ratio = (a: number | undefined, b: number | undefined, limit: number) => {
    if (a === undefined || b === undefined) return "n/a";
    const value = a / b;
    return `${value.toFixed(2)} ${value >= limit ? "✓" : "✗"}`;
  };
  const labels = peers.map((peer) => PEERS[peer].label);
  const header = (cells: readonly string[], leading: number) =>
    `| ${cells.join(" | ")} |\n|${cells.map((_, i) => (i < leading ? " --- " : " ---: ")).join("|")}|`;
  const row = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;

  const table = (pick: Pick, target: number, withCount: boolean) => {
    const lines = [
      header(
        [
          "runtime",
          "payload",
          ...(withCount ? ["events"] : []),
          ...labels,
          `Troupe / raw (≥ ${target.toFixed(2)})`,
        ],
        2,
      ),
    ];
    for (const runtime of runtimes) {
      for (const size of sizes) {
        lines.push(
          row([
            versionOf(runtime),
            `${size} B`,
            ...(withCount ? [messagesFor(input, size).toLocaleString("en-US")] : []),
            ...peers.map((peer) => cell(runtime, peer, size, pick)),
            ratio(medianOf(runtime, "troupe", size, pick), medianOf(runtime, "raw", size, pick), target),
          ]),
        );
      }
    }
    return lines;
  };

  const notes = new Set<string>();
  for (const { round, runtime, peer, sizeBytes, run } of measurements) {
    if (run.kind === "failed") {
      notes.add(
        `- ${PEERS[peer].label} failed on ${runtime}, ${sizeBytes} B, round ${round}: ${telling(run.reason)}`,
      );
    }
  }
  const rounds = input.rounds === 1 ? "1 round" : `median of ${input.rounds} rounds, range`;
  return [
    `### Publish, ${input.inFlight} in flight: publishes/s (${rounds})`,
    "",
    ...table((r) => r.publishesPerSecond, TARGETS.publishVsRaw, false),
    "",
    `### Consume with ack, no-op handler: events/s (${rounds})`,
    "",
    ...table((r) => r.consumedPerSecond, TARGETS.consumeVsRaw, true),
    ...(notes.size > 0 ? ["", ...notes] : []),
    "",
  ].join("\n");
}
