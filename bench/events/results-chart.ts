/**
 * The chart of the report's main table (results-table.ts): each peer's median publishes/s with
 * N publishes in flight, one group of bars per runtime and payload size.
 */
import type { BarChart } from "../shared/bar-chart-svg.ts";
import { runtimeSizeChart } from "../shared/runtime-size-chart.ts";
import { PEER_NAMES, PEERS } from "./peers.ts";
import type { Measurement } from "./results-table.ts";
import type { RunOptions } from "./run-options.ts";

export function resultsChart(input: RunOptions, measurements: readonly Measurement[]): BarChart {
  const peers = PEER_NAMES.filter((peer) => input.peers.includes(peer));
  return runtimeSizeChart(
    {
      title: `Events published, ${input.inFlight} in flight (median of ${input.rounds} round${input.rounds === 1 ? "" : "s"})`,
      unit: "publishes/s",
    },
    input,
    peers.map((name) => ({ name, label: PEERS[name].label })),
    measurements,
    (m, size) => (m.sizeBytes === size && m.run.kind === "result" ? [m.run.result.publishesPerSecond] : []),
  );
}
