/**
 * How the tables name a runtime: the version its first successful measurement ran on
 * (`bun 1.4.5`), or its bare name when none succeeded.
 */
import type { MeasurementRun } from "./measurement.ts";
import type { RuntimeName } from "./runtimes.ts";

export function runtimeVersion(
  measurements: readonly { readonly runtime: RuntimeName; readonly run: MeasurementRun<object> }[],
  runtime: RuntimeName,
): string {
  for (const m of measurements) {
    if (m.runtime === runtime && m.run.kind === "result") return m.run.runtimeVersion;
  }
  return runtime;
}
