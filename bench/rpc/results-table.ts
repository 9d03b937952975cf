/**
 * The Markdown report of a run: medians over rounds of each peer's calls/s at N in flight and
 * its p50/p99 at one in flight, per runtime and payload size, with Troupe's ratios against the
 * issue's targets. A peer with no results is shown as "failed", and each failure is listed.
 */
import { PEER_NAMES, PEERS, type PeerName } from "./peers.ts";
import { median } from "./percentile.ts";
import type { PeerRun } from "./run-peer.ts";
import type { RuntimeName } from "./runtimes.ts";

export interface Measurement {
  readonly round: number;
  readonly runtime: RuntimeName;
  readonly peer: PeerName;
  readonly run: PeerRun;
}

/** The targets for Troupe, same run, same runtime. */
export const TARGETS = {
  /** At N in flight, Troupe's calls/s over the minimal multiplexer's: at least. */
  throughputVsMux: 0.8,
  /** At N in flight, Troupe's calls/s over raw nc.request's: at least. */
  throughputVsRaw: 1.0,
  /** At one in flight, Troupe's p50 over raw nc.request's: at most. */
  p50VsRaw: 1.15,
  /** At N in flight, Troupe with the default policy set over bare Troupe: at least. */
  policiesVsBare: 0.9,
} as const;

interface Medians {
  readonly callsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

export interface TableInput {
  readonly runtimes: readonly RuntimeName[];
  readonly peers: readonly PeerName[];
  readonly sizes: readonly number[];
  readonly rounds: number;
  readonly inFlight: number;
  readonly measurements: readonly Measurement[];
}

export function resultsTable(input: TableInput): string {
  const { runtimes, sizes, measurements } = input;
  // Columns in the canonical order, whatever order the peers ran in.
  const peers = PEER_NAMES.filter((peer) => input.peers.includes(peer));
  const runsOf = (runtime: RuntimeName, peer: PeerName) =>
    measurements.filter((m) => m.runtime === runtime && m.peer === peer).map((m) => m.run);
  const mediansOf = (runtime: RuntimeName, peer: PeerName, size: number): Medians | undefined => {
    const results = runsOf(runtime, peer).flatMap((run) =>
      run.kind === "result" ? run.sizes.filter((s) => s.sizeBytes === size) : [],
    );
    if (results.length === 0) return undefined;
    return {
      callsPerSecond: median(results.map((r) => r.callsPerSecond)),
      p50Us: median(results.map((r) => r.p50Us)),
      p99Us: median(results.map((r) => r.p99Us)),
    };
  };
  const versionOf = (runtime: RuntimeName) => {
    for (const m of measurements) {
      if (m.runtime === runtime && m.run.kind === "result") return m.run.runtimeVersion;
    }
    return runtime;
  };
  const ratio = (a: number | undefined, b: number | undefined, limit: number, atLeast: boolean) => {
    if (a === undefined || b === undefined) return "n/a";
    const value = a / b;
    return `${value.toFixed(2)} ${(atLeast ? value >= limit : value <= limit) ? "✓" : "✗"}`;
  };
  const limit = (value: number) => value.toFixed(2);
  const labels = peers.map((peer) => PEERS[peer].label);
  const policiesColumn = peers.includes("policies") && peers.includes("troupe");
  const header = (cells: readonly string[]) =>
    `| ${cells.join(" | ")} |\n|${cells.map((_, i) => (i < 2 ? " --- " : " ---: ")).join("|")}|`;
  const row = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  const rate = (n: number) => Math.round(n).toLocaleString("en-US");

  const throughput = [
    header([
      "runtime",
      "payload",
      ...labels,
      `Troupe / mux (≥ ${limit(TARGETS.throughputVsMux)})`,
      `Troupe / raw (≥ ${limit(TARGETS.throughputVsRaw)})`,
      ...(policiesColumn ? [`policies / Troupe (≥ ${limit(TARGETS.policiesVsBare)})`] : []),
    ]),
  ];
  const latency = [
    header(["runtime", "payload", ...labels, `p50 Troupe / raw (≤ ${limit(TARGETS.p50VsRaw)})`]),
  ];
  for (const runtime of runtimes) {
    for (const size of sizes) {
      const m = (peer: PeerName) => mediansOf(runtime, peer, size);
      const lead = [versionOf(runtime), `${size} B`];
      throughput.push(
        row([
          ...lead,
          ...peers.map((peer) => {
            const value = m(peer);
            return value === undefined ? "failed" : rate(value.callsPerSecond);
          }),
          ratio(m("troupe")?.callsPerSecond, m("mux")?.callsPerSecond, TARGETS.throughputVsMux, true),
          ratio(m("troupe")?.callsPerSecond, m("raw")?.callsPerSecond, TARGETS.throughputVsRaw, true),
          ...(policiesColumn
            ? [
                ratio(
                  m("policies")?.callsPerSecond,
                  m("troupe")?.callsPerSecond,
                  TARGETS.policiesVsBare,
                  true,
                ),
              ]
            : []),
        ]),
      );
      latency.push(
        row([
          ...lead,
          ...peers.map((peer) => {
            const value = m(peer);
            return value === undefined ? "failed" : `${Math.round(value.p50Us)} / ${Math.round(value.p99Us)}`;
          }),
          ratio(m("troupe")?.p50Us, m("raw")?.p50Us, TARGETS.p50VsRaw, false),
        ]),
      );
    }
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
    `### ${input.inFlight} calls in flight: calls/s (${rounds})`,
    "",
    ...throughput,
    "",
    `### 1 call in flight: latency p50 / p99 in µs (${rounds})`,
    "",
    ...latency,
    ...(notes.size > 0 ? ["", ...notes] : []),
    "",
  ].join("\n");
}
