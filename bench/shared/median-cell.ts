/**
 * A table cell of a rate over rounds: its median, and with more than one round the range in
 * thousands, `52,955 (49.8–55.1k)`; `failed` when no round gave a result.
 */
import { median } from "./percentile.ts";
import { rate } from "./rate.ts";

export function medianCell(values: readonly number[]): string {
  if (values.length === 0) return "failed";
  const text = rate(median(values));
  if (values.length === 1) return text;
  const k = (n: number) => (n / 1000).toFixed(1);
  return `${text} (${k(Math.min(...values))}–${k(Math.max(...values))}k)`;
}
