/**
 * The Markdown report of a run: per runtime, the median over rounds of each peer's requests/s
 * (with the range over rounds) and of its p50 / p99 latency under load, and the gateway's
 * ratios against the targets. A peer with no results is shown as "failed", and each
 * failed run is listed under the tables.
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
import type { LoadResult } from "./child-line.ts";
import { PEER_NAMES, PEERS, type PeerName } from "./peers.ts";
import type { MeasurementRun } from "./run-measurement.ts";
import type { RunOptions } from "./run-options.ts";

export type Measurement = MeasurementOf<PeerName, { readonly run: MeasurementRun }>;

/** The targets for the gateway, same run, same runtime: at least these ratios of requests/s. */
export const TARGETS = {
  vsConnect: 5,
  vsHono: 0.7,
  /** Issue 14: against the frameworks one would pick instead, each also going through NATS. */
  vsMoleculer: 1.5,
  vsNestjs: 2,
} as const;

export function resultsTable(input: RunOptions, measurements: readonly Measurement[]): string {
  const { runtimes } = input;
  // Columns in the canonical order, whatever order the peers ran in.
  const peers = PEER_NAMES.filter((peer) => input.peers.includes(peer));
  const valuesOf = (runtime: RuntimeName, peer: PeerName, pick: (r: LoadResult) => number) =>
    measurements.flatMap((m) =>
      m.runtime === runtime && m.peer === peer && m.run.kind === "result" ? [pick(m.run.result)] : [],
    );
  const medianOf = (runtime: RuntimeName, peer: PeerName, pick: (r: LoadResult) => number) => {
    const values = valuesOf(runtime, peer, pick);
    return values.length === 0 ? undefined : median(values);
  };
  const rateOf = (runtime: RuntimeName, peer: PeerName) =>
    medianOf(runtime, peer, (r) => r.requestsPerSecond);
  const latencyCell = (runtime: RuntimeName, peer: PeerName) => {
    const p50 = medianOf(runtime, peer, (r) => r.p50Us);
    const p99 = medianOf(runtime, peer, (r) => r.p99Us);
    return p50 === undefined || p99 === undefined ? "failed" : `${Math.round(p50)} / ${Math.round(p99)}`;
  };
  const labels = peers.map((peer) => PEERS[peer].label);
  const moleculerColumn = peers.includes("moleculer") && peers.includes("gateway");
  const nestjsColumn = peers.includes("nestjs") && peers.includes("gateway");

  const throughput = runtimes.map((runtime) => [
    runtimeVersion(measurements, runtime),
    ...peers.map((peer) => medianCell(valuesOf(runtime, peer, (r) => r.requestsPerSecond))),
    ratioCell(rateOf(runtime, "gateway"), rateOf(runtime, "connect"), TARGETS.vsConnect),
    ratioCell(rateOf(runtime, "gateway"), rateOf(runtime, "hono"), TARGETS.vsHono),
    ...(moleculerColumn
      ? [ratioCell(rateOf(runtime, "gateway"), rateOf(runtime, "moleculer"), TARGETS.vsMoleculer)]
      : []),
    ...(nestjsColumn
      ? [ratioCell(rateOf(runtime, "gateway"), rateOf(runtime, "nestjs"), TARGETS.vsNestjs)]
      : []),
  ]);
  const latency = runtimes.map((runtime) => [
    runtimeVersion(measurements, runtime),
    ...peers.map((peer) => latencyCell(runtime, peer)),
  ]);

  const rounds = `median of ${input.rounds} round${input.rounds === 1 ? "" : "s"}`;
  return markdownReport(
    [
      {
        title: `${input.concurrency} concurrent clients: requests/s (${rounds}, range)`,
        table: markdownTable(
          [
            "runtime",
            ...labels,
            `gateway / connect-node (≥ ${TARGETS.vsConnect.toFixed(2)})`,
            `gateway / Hono (≥ ${TARGETS.vsHono.toFixed(2)})`,
            ...(moleculerColumn ? [`gateway / moleculer-web (≥ ${TARGETS.vsMoleculer.toFixed(2)})`] : []),
            ...(nestjsColumn ? [`gateway / NestJS (≥ ${TARGETS.vsNestjs.toFixed(2)})`] : []),
          ],
          throughput,
          1,
        ),
      },
      {
        title: `Latency under that load: p50 / p99 in µs (${rounds})`,
        table: markdownTable(["runtime", ...labels], latency, 1),
      },
    ],
    failureNotes(
      measurements,
      ({ round, runtime, peer }, reason) =>
        `- ${PEERS[peer].label} failed on ${runtime} in round ${round}: ${reason.split("\n")[0]}`,
    ),
  );
}
