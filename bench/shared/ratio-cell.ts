/**
 * A table cell comparing two medians against a target: `0.93 ✓`, the ratio `a / b` and whether
 * it is at least (or, with `atLeast` false, at most) `limit`; `n/a` when either has no results.
 */
export function ratioCell(
  a: number | undefined,
  b: number | undefined,
  limit: number,
  atLeast = true,
): string {
  if (a === undefined || b === undefined) return "n/a";
  const value = a / b;
  return `${value.toFixed(2)} ${(atLeast ? value >= limit : value <= limit) ? "✓" : "✗"}`;
}
