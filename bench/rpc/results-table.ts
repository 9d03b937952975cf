/**
 * The Markdown report of a run: medians over rounds of each peer's calls/s at N in flight and
 * its p50/p99 at one in flight, per runtime and payload size, with Troupe's ratios against the
 * issue's targets. A peer with no results is shown as "failed", and each failure is listed.
 */
import { failureNotes } from "../shared/failure-notes.ts";
import { markdownReport } from "../shared/markdown-report.ts";
import { markdownTable } from "../shared/markdown-table.ts";
import type { Measurement as MeasurementOf } from "../shared/measurement.ts";
import { median } from "../shared/percentile.ts";
import { rate } from "../shared/rate.ts";
import { ratioCell } from "../shared/ratio-cell.ts";
import { runtimeVersion } from "../shared/runtime-version.ts";
import type { RuntimeName } from "../shared/runtimes.ts";
import { PEER_NAMES, PEERS, type PeerName } from "./peers.ts";
import type { MeasurementRun } from "./run-measurement.ts";
import type { RunOptions } from "./run-options.ts";

export type Measurement = MeasurementOf<PeerName, { readonly run: MeasurementRun }>;

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
  /** At N in flight, Troupe over a TLS connection over Troupe in cleartext: at least (issue 13). */
  tlsVsCleartext: 0.95,
  /** At N in flight, Troupe called by address over Troupe over NATS: at least (issue 14). */
  directVsNats: 1.5,
  /** At one in flight, the p50 of Troupe called by address over Troupe over NATS: at most. */
  directP50VsNats: 0.7,
  /** At N in flight, Troupe over Moleculer on the same nats-server: at least (issue 14). */
  vsMoleculer: 1.5,
  /** At N in flight, Troupe over NestJS microservices on the same nats-server: at least (issue 14). */
  vsNestjs: 2,
} as const;

interface Medians {
  readonly callsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

export function resultsTable(input: RunOptions, measurements: readonly Measurement[]): string {
  const { runtimes, sizes } = input;
  // Columns in the canonical order, whatever order the peers ran in.
  const peers = PEER_NAMES.filter((peer) => input.peers.includes(peer));
  const mediansOf = (runtime: RuntimeName, peer: PeerName, size: number): Medians | undefined => {
    const results = measurements.flatMap((m) =>
      m.runtime === runtime && m.peer === peer && m.run.kind === "result"
        ? m.run.sizes.filter((s) => s.sizeBytes === size)
        : [],
    );
    if (results.length === 0) return undefined;
    return {
      callsPerSecond: median(results.map((r) => r.callsPerSecond)),
      p50Us: median(results.map((r) => r.p50Us)),
      p99Us: median(results.map((r) => r.p99Us)),
    };
  };
  const limit = (value: number) => value.toFixed(2);
  const labels = peers.map((peer) => PEERS[peer].label);
  const policiesColumn = peers.includes("policies") && peers.includes("troupe");
  const tlsColumn = peers.includes("tls") && peers.includes("troupe");
  const rawTlsColumn = peers.includes("raw-tls") && peers.includes("raw");
  const securedColumn = peers.includes("secured") && peers.includes("troupe");
  const directColumn = peers.includes("direct") && peers.includes("troupe");
  const floorColumn = peers.includes("direct") && peers.includes("tcp");
  const moleculerColumn = peers.includes("moleculer") && peers.includes("troupe");
  const nestjsColumn = peers.includes("nestjs") && peers.includes("troupe");

  const throughput: string[][] = [];
  const latency: string[][] = [];
  for (const runtime of runtimes) {
    for (const size of sizes) {
      const m = (peer: PeerName) => mediansOf(runtime, peer, size);
      const calls = (peer: PeerName) => m(peer)?.callsPerSecond;
      const lead = [runtimeVersion(measurements, runtime), `${size} B`];
      throughput.push([
        ...lead,
        ...peers.map((peer) => {
          const value = calls(peer);
          return value === undefined ? "failed" : rate(value);
        }),
        ratioCell(calls("troupe"), calls("mux"), TARGETS.throughputVsMux),
        ratioCell(calls("troupe"), calls("raw"), TARGETS.throughputVsRaw),
        ...(policiesColumn ? [ratioCell(calls("policies"), calls("troupe"), TARGETS.policiesVsBare)] : []),
        ...(tlsColumn ? [ratioCell(calls("tls"), calls("troupe"), TARGETS.tlsVsCleartext)] : []),
        ...(rawTlsColumn ? [ratioCell(calls("raw-tls"), calls("raw"), TARGETS.tlsVsCleartext)] : []),
        ...(securedColumn ? [ratioCell(calls("secured"), calls("troupe"), TARGETS.tlsVsCleartext)] : []),
        ...(directColumn ? [ratioCell(calls("direct"), calls("troupe"), TARGETS.directVsNats)] : []),
        ...(floorColumn ? [plainRatio(calls("direct"), calls("tcp"))] : []),
        ...(moleculerColumn ? [ratioCell(calls("troupe"), calls("moleculer"), TARGETS.vsMoleculer)] : []),
        ...(nestjsColumn ? [ratioCell(calls("troupe"), calls("nestjs"), TARGETS.vsNestjs)] : []),
      ]);
      latency.push([
        ...lead,
        ...peers.map((peer) => {
          const value = m(peer);
          return value === undefined ? "failed" : `${Math.round(value.p50Us)} / ${Math.round(value.p99Us)}`;
        }),
        ratioCell(m("troupe")?.p50Us, m("raw")?.p50Us, TARGETS.p50VsRaw, false),
        ...(directColumn
          ? [ratioCell(m("direct")?.p50Us, m("troupe")?.p50Us, TARGETS.directP50VsNats, false)]
          : []),
      ]);
    }
  }

  const rounds = `median of ${input.rounds} round${input.rounds === 1 ? "" : "s"}`;
  return markdownReport(
    [
      {
        title: `${input.inFlight} calls in flight: calls/s (${rounds})`,
        table: markdownTable(
          [
            "runtime",
            "payload",
            ...labels,
            `Troupe / mux (≥ ${limit(TARGETS.throughputVsMux)})`,
            `Troupe / raw (≥ ${limit(TARGETS.throughputVsRaw)})`,
            ...(policiesColumn ? [`policies / Troupe (≥ ${limit(TARGETS.policiesVsBare)})`] : []),
            ...(tlsColumn ? [`TLS / Troupe (≥ ${limit(TARGETS.tlsVsCleartext)})`] : []),
            ...(rawTlsColumn ? [`raw TLS / raw (≥ ${limit(TARGETS.tlsVsCleartext)})`] : []),
            ...(securedColumn ? [`creds + TLS / Troupe (≥ ${limit(TARGETS.tlsVsCleartext)})`] : []),
            ...(directColumn ? [`by address / Troupe (≥ ${limit(TARGETS.directVsNats)})`] : []),
            ...(floorColumn ? ["by address / TCP echo"] : []),
            ...(moleculerColumn ? [`Troupe / Moleculer (≥ ${limit(TARGETS.vsMoleculer)})`] : []),
            ...(nestjsColumn ? [`Troupe / NestJS (≥ ${limit(TARGETS.vsNestjs)})`] : []),
          ],
          throughput,
          2,
        ),
      },
      {
        title: `1 call in flight: latency p50 / p99 in µs (${rounds})`,
        table: markdownTable(
          [
            "runtime",
            "payload",
            ...labels,
            `p50 Troupe / raw (≤ ${limit(TARGETS.p50VsRaw)})`,
            ...(directColumn ? [`p50 by address / Troupe (≤ ${limit(TARGETS.directP50VsNats)})`] : []),
          ],
          latency,
          2,
        ),
      },
    ],
    failureNotes(
      measurements,
      ({ round, runtime, peer }, reason) =>
        `- ${PEERS[peer].label} failed on ${runtime} in round ${round}: ${reason.split("\n")[0]}`,
    ),
  );
}

/** `a / b` without a target (`n/a` without both). */
function plainRatio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? "n/a" : (a / b).toFixed(2);
}
