/**
 * The chart of the report's main table (results-table.ts): each peer's median calls/s at N in
 * flight, one group of bars per runtime and payload size.
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
      title: `Unary RPC, ${input.inFlight} calls in flight (median of ${input.rounds} round${input.rounds === 1 ? "" : "s"})`,
      unit: "calls/s",
    },
    input,
    peers.map((name) => ({ name, label: PEERS[name].label })),
    measurements,
    (m, size) =>
      m.run.kind === "result"
        ? m.run.sizes.filter((s) => s.sizeBytes === size).map((s) => s.callsPerSecond)
        : [],
  );
}
