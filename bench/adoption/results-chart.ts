/**
 * The chart of the report's table (results-table.ts): its figures are in different units, so
 * each figure with a target is drawn as its median's share of the target, one bar per runtime,
 * with the target as a line at 1 (lower is better).
 */
import type { BarChart } from "../shared/bar-chart-svg.ts";
import { runtimeVersion } from "../shared/runtime-version.ts";
import type { Measurement } from "./results.ts";
import { targetShares } from "./results-table.ts";
import type { RunOptions } from "./run-options.ts";

export function resultsChart(input: RunOptions, measurements: readonly Measurement[]): BarChart {
  const shares = input.runtimes.map((runtime) => targetShares(measurements, runtime));
  const figures = (shares[0] ?? []).map((s) => s.figure);
  return {
    title: `Adoption figures against their targets (median of ${input.rounds} round${input.rounds === 1 ? "" : "s"})`,
    unit: "share of target (lower is better)",
    series: input.runtimes.map((runtime) => runtimeVersion(measurements, runtime)),
    groups: figures
      .map((figure, f) => ({ label: figure, values: shares.map((perRuntime) => perRuntime[f]?.share) }))
      .filter((group) => group.values.some((value) => value !== undefined)),
    reference: { value: 1, label: "target" },
  };
}
