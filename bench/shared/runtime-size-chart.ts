/**
 * The chart most drivers draw of their main table: one group of bars per runtime and payload
 * size, one bar per peer, each the median over the rounds of what `valuesOf` reads.
 */
import type { BarChart } from "./bar-chart-svg.ts";
import type { MeasurementRun } from "./measurement.ts";
import { median } from "./percentile.ts";
import { runtimeVersion } from "./runtime-version.ts";
import type { RuntimeName } from "./runtimes.ts";

export function runtimeSizeChart<
  P extends string,
  M extends { readonly runtime: RuntimeName; readonly peer: P; readonly run: MeasurementRun<object> },
>(
  chart: { readonly title: string; readonly unit: string },
  input: { readonly runtimes: readonly RuntimeName[]; readonly sizes: readonly number[] },
  peers: readonly { readonly name: P; readonly label: string }[],
  measurements: readonly M[],
  valuesOf: (measurement: M, size: number) => readonly number[],
): BarChart {
  return {
    ...chart,
    series: peers.map((peer) => peer.label),
    groups: input.runtimes.flatMap((runtime) =>
      input.sizes.map((size) => ({
        label: `${runtimeVersion(measurements, runtime)}\n${size} B`,
        values: peers.map(({ name }) => {
          const values = measurements.flatMap((m) =>
            m.runtime === runtime && m.peer === name ? valuesOf(m, size) : [],
          );
          return values.length === 0 ? undefined : median(values);
        }),
      })),
    ),
  };
}
