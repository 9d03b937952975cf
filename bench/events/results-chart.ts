/**
 * The chart of the report's main table (results-table.ts): each peer's median publishes/s with
 * N publishes in flight, one group of bars per runtime and payload size.
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
    title: `Events published, ${input.inFlight} in flight (median of ${input.rounds} round${input.rounds === 1 ? "" : "s"})`,
    unit: "publishes/s",
    series: peers.map((peer) => PEERS[peer].label),
    groups: input.runtimes.flatMap((runtime) =>
      input.sizes.map((size) => ({
        label: `${runtimeVersion(measurements, runtime)}\n${size} B`,
        values: peers.map((peer) => {
          const values = measurements.flatMap((m) =>
            m.runtime === runtime && m.peer === peer && m.sizeBytes === size && m.run.kind === "result"
              ? [m.run.result.publishesPerSecond]
              : [],
          );
          return values.length === 0 ? undefined : median(values);
        }),
      })),
    ),
  };
}
