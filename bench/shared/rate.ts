/** A rate as the reports print it: rounded, with thousands separators (`52,955`). */
export function rate(perSecond: number): string {
  return Math.round(perSecond).toLocaleString("en-US");
}
