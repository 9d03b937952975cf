/**
 * The chart of the report's main table (results-table.ts): each peer's median requests/s under
 * the run's concurrency, one group of bars per runtime.
 */
import type { BarChart } from "../shared/bar-chart-svg.ts";
import { median } from "../shared/percentile.ts";
import { runtimeVersion } from "../shared/runtime-version.ts";
import { PEER_NAMES, PEERS } from "./peers.ts";
import type { Measurement } from "./results-table.ts";
import type { RunOptions } from "./run-options.ts";

export function resultsChart(input: RunOptions, measurements: readonly Measurement[]): BarChart {
  const peers = PEER_NAMES.filter((peer) => input.peers.includes(peer));
  return {
    title: `GetProduct at the edge, ${input.concurrency} concurrent clients (median of ${input.rounds} round${input.rounds === 1 ? "" : "s"})`,
    unit: "requests/s",
    series: peers.map((peer) => PEERS[peer].label),
    groups: input.runtimes.map((runtime) => ({
      label: runtimeVersion(measurements, runtime),
      values: peers.map((peer) => {
        const values = measurements.flatMap((m) =>
          m.runtime === runtime && m.peer === peer && m.run.kind === "result"
            ? [m.run.result.requestsPerSecond]
            : [],
        );
        return values.length === 0 ? undefined : median(values);
      }),
    })),
  };
}
