/**
 * The Markdown report of a run: medians over rounds of each peer's publishes/s and events
 * consumed and acknowledged per second, per runtime and payload size, with Troupe's ratios
 * against the targets; with several rounds each cell also shows the range over them. A
 * peer with no results is shown as "failed", and each failed run is listed under the tables.
 */
import { failureNotes } from "../shared/failure-notes.ts";
import { markdownReport } from "../shared/markdown-report.ts";
import { markdownTable } from "../shared/markdown-table.ts";
import type { Measurement as MeasurementOf } from "../shared/measurement.ts";
import { medianCell } from "../shared/median-cell.ts";
import { median } from "../shared/percentile.ts";
import { ratioCell } from "../shared/ratio-cell.ts";
import { runtimeVersion } from "../shared/runtime-version.ts";
import type { RuntimeName } from "../shared/runtimes.ts";
import type { EventsResult } from "./child-line.ts";
import { PEER_NAMES, PEERS, type PeerName } from "./peers.ts";
import type { MeasurementRun } from "./run-measurement.ts";
import { messagesFor, type RunOptions } from "./run-options.ts";

export type Measurement = MeasurementOf<
  PeerName,
  { readonly sizeBytes: number; readonly run: MeasurementRun }
>;

/** The targets for Troupe, same run, same runtime: at least this share of raw JetStream. */
export const TARGETS = {
  publishVsRaw: 0.9,
  consumeVsRaw: 0.9,
  /** Issue 14: Troupe against RabbitMQ, publishing and consuming: at least. */
  vsRabbitmq: 2,
} as const;

/** The line of a failure that says what went wrong: the first naming an error, else the first. */
function telling(reason: string): string {
  const lines = reason.split("\n").map((line) => line.trim());
  return lines.find((line) => /^\w*Error\b|^error:/i.test(line)) ?? lines[0] ?? reason;
}

/** Which number of a result a table shows. */
type Pick = (result: EventsResult) => number;

/** `notes`: lines the driver adds under the tables (a peer it skipped, and why). */
export function resultsTable(
  input: RunOptions,
  measurements: readonly Measurement[],
  notes: readonly string[] = [],
): string {
  const { runtimes, sizes } = input;
  // Columns in the canonical order, whatever order the peers ran in.
  const peers = PEER_NAMES.filter((peer) => input.peers.includes(peer));
  /** One number of every round's result. */
  const valuesOf = (runtime: RuntimeName, peer: PeerName, size: number, pick: Pick) =>
    measurements.flatMap((m) =>
      m.runtime === runtime && m.peer === peer && m.sizeBytes === size && m.run.kind === "result"
        ? [pick(m.run.result)]
        : [],
    );
  const medianOf = (runtime: RuntimeName, peer: PeerName, size: number, pick: Pick) => {
    const values = valuesOf(runtime, peer, size, pick);
    return values.length === 0 ? undefined : median(values);
  };
  const labels = peers.map((peer) => PEERS[peer].label);
  /** Troupe's rows against RabbitMQ: at the default sync and at fsync on every write. */
  const vsRabbitmq = peers.includes("rabbitmq")
    ? (["troupe", "troupe-sync"] as const).filter((peer) => peers.includes(peer))
    : [];

  const table = (pick: Pick, target: number, withCount: boolean) => {
    const rows = runtimes.flatMap((runtime) =>
      sizes.map((size) => [
        runtimeVersion(measurements, runtime),
        `${size} B`,
        ...(withCount ? [messagesFor(input, size).toLocaleString("en-US")] : []),
        ...peers.map((peer) => medianCell(valuesOf(runtime, peer, size, pick))),
        ratioCell(medianOf(runtime, "troupe", size, pick), medianOf(runtime, "raw", size, pick), target),
        ...vsRabbitmq.map((peer) =>
          ratioCell(
            medianOf(runtime, peer, size, pick),
            medianOf(runtime, "rabbitmq", size, pick),
            TARGETS.vsRabbitmq,
          ),
        ),
      ]),
    );
    const header = [
      "runtime",
      "payload",
      ...(withCount ? ["events"] : []),
      ...labels,
      `Troupe / raw (≥ ${target.toFixed(2)})`,
      ...vsRabbitmq.map(
        (peer) =>
          `${peer === "troupe" ? "Troupe" : "Troupe fsync"} / RabbitMQ (≥ ${TARGETS.vsRabbitmq.toFixed(2)})`,
      ),
    ];
    return markdownTable(header, rows, 2);
  };

  const rounds = input.rounds === 1 ? "1 round" : `median of ${input.rounds} rounds, range`;
  return markdownReport(
    [
      {
        title: `Publish, ${input.inFlight} in flight: publishes/s (${rounds})`,
        table: table((r) => r.publishesPerSecond, TARGETS.publishVsRaw, false),
      },
      {
        title: `Consume with ack, no-op handler: events/s (${rounds})`,
        table: table((r) => r.consumedPerSecond, TARGETS.consumeVsRaw, true),
      },
    ],
    [
      ...notes,
      ...failureNotes(
        measurements,
        ({ round, runtime, peer, sizeBytes }, reason) =>
          `- ${PEERS[peer].label} failed on ${runtime}, ${sizeBytes} B, round ${round}: ${telling(reason)}`,
      ),
    ],
  );
}
