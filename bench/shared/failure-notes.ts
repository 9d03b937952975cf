/**
 * The notes under a report's tables: one line per failed measurement, as `note` words it from
 * the measurement and its failure's reason, each distinct line once.
 */
import type { MeasurementRun } from "./measurement.ts";

export function failureNotes<M extends { readonly run: MeasurementRun<object> }>(
  measurements: readonly M[],
  note: (measurement: M, reason: string) => string,
): string[] {
  const notes = new Set<string>();
  for (const m of measurements) {
    if (m.run.kind === "failed") notes.add(note(m, m.run.reason));
  }
  return [...notes];
}
