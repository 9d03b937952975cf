/**
 * The chart of the report's main table (results-table.ts): the median calls/s of the plain and
 * the keyed service at N in flight, one group of bars per runtime and method.
 */
import type { BarChart } from "../shared/bar-chart-svg.ts";
import { median } from "../shared/percentile.ts";
import { runtimeVersion } from "../shared/runtime-version.ts";
import type { Measurement } from "./results.ts";
import { METHOD_LABELS, methodResults } from "./results-table.ts";
import type { RunOptions } from "./run-options.ts";

export function resultsChart(input: RunOptions, measurements: readonly Measurement[]): BarChart {
  const services = (["plain", "keyed"] as const).filter((service) => input.peers.includes(service));
  return {
    title: `Keyed vs plain calls, ${input.inFlight} in flight over ${input.keys} keys (median of ${input.rounds} round${input.rounds === 1 ? "" : "s"})`,
    unit: "calls/s",
    series: services.map((service) =>
      service === "plain" ? "plain service (implement)" : "keyed actors (keyed)",
    ),
    groups: input.runtimes.flatMap((runtime) =>
      (["read", "add"] as const).map((method) => ({
        label: `${runtimeVersion(measurements, runtime)}\n${METHOD_LABELS[method]}`,
        values: services.map((service) => {
          const values = methodResults(measurements, runtime, service, method).map(
            (r) => r.concurrent.callsPerSecond,
          );
          return values.length === 0 ? undefined : median(values);
        }),
      })),
    ),
  };
}
