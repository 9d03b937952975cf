/**
 * The Markdown report of a run: per runtime, the median over rounds of each peer's requests/s
 * (with the range over rounds) and of its p50 / p99 latency under load, and the gateway's
 * ratios against the targets. A peer with no results is shown as "failed", and each
 * failed run is listed under the tables.
 */
import { median } from "../rpc/percentile.ts";
import type { RuntimeName } from "../rpc/runtimes.ts";
import type { LoadResult } from "./child-line.ts";
import { PEER_NAMES, PEERS, type PeerName } from "./peers.ts";
import type { MeasurementRun } from "./run-measurement.ts";
import type { RunOptions } from "./run-options.ts";

export interface Measurement {
  readonly round: number;
  readonly runtime: RuntimeName;
  readonly peer: PeerName;
  readonly run: MeasurementRun;
}

/** The targets for the gateway, same run, same runtime: at least these ratios of requests/s. */
export const TARGETS = {
  vsConnect: 5,
  vsHono: 0.5,
} as const;

export interface TableInput extends RunOptions {
  readonly measurements: readonly Measurement[];
}

export function resultsTable(input: TableInput): string {
  const { runtimes, measurements } = input;
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
  const rateCell = (runtime: RuntimeName, peer: PeerName) => {
    const values = valuesOf(runtime, peer, (r) => r.requestsPerSecond);
    if (values.length === 0) return "failed";
    const text = Math.round(median(values)).toLocaleString("en-US");
    if (values.length === 1) return text;
    const k = (n: number) => (n / 1000).toFixed(1);
    return `${text} (${k(Math.min(...values))}–${k(Math.max(...values))}k)`;
  };
  const latencyCell = (runtime: RuntimeName, peer: PeerName) => {
    const p50 = medianOf(runtime, peer, (r) => r.p50Us);
    const p99 = medianOf(runtime, peer, (r) => r.p99Us);
    return p50 === undefined || p99 === undefined ? "failed" : `${Math.round(p50)} / ${Math.round(p99)}`;
  };
  const versionOf = (runtime: RuntimeName) => {
    for (const m of measurements) {
      if (m.runtime === runtime && m.run.kind === "result") return m.run.runtimeVersion;
    }
    return runtime;
  };
  const ratio = (runtime: RuntimeName, other: PeerName, limit: number) => {
    const a = medianOf(runtime, "gateway", (r) => r.requestsPerSecond);
    const b = medianOf(runtime, other, (r) => r.requestsPerSecond);
    if (a === undefined || b === undefined) return "n/a";
    const value = a / b;
    return `${value.toFixed(2)} ${value >= limit ? "✓" : "✗"}`;
  };
  const labels = peers.map((peer) => PEERS[peer].label);
  const header = (cells: readonly string[]) =>
    `| ${cells.join(" | ")} |\n|${cells.map((_, i) => (i < 1 ? " --- " : " ---: ")).join("|")}|`;
  const row = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;

  const throughput = [
    header([
      "runtime",
      ...labels,
      `gateway / connect-node (≥ ${TARGETS.vsConnect.toFixed(2)})`,
      `gateway / Hono (≥ ${TARGETS.vsHono.toFixed(2)})`,
    ]),
  ];
  const latency = [header(["runtime", ...labels])];
  for (const runtime of runtimes) {
    throughput.push(
      row([
        versionOf(runtime),
        ...peers.map((peer) => rateCell(runtime, peer)),
        ratio(runtime, "connect", TARGETS.vsConnect),
        ratio(runtime, "hono", TARGETS.vsHono),
      ]),
    );
    latency.push(row([versionOf(runtime), ...peers.map((peer) => latencyCell(runtime, peer))]));
  }

  const notes = new Set<string>();
  for (const { round, runtime, peer, run } of measurements) {
    if (run.kind === "failed") {
      notes.add(
        `- ${PEERS[peer].label} failed on ${runtime} in round ${round}: ${run.reason.split("\n")[0]}`,
      );
    }
  }
  const rounds = `median of ${input.rounds} round${input.rounds === 1 ? "" : "s"}`;
  return [
    `### ${input.concurrency} concurrent clients: requests/s (${rounds}, range)`,
    "",
    ...throughput,
    "",
    `### Latency under that load: p50 / p99 in µs (${rounds})`,
    "",
    ...latency,
    ...(notes.size > 0 ? ["", ...notes] : []),
    "",
  ].join("\n");
}
