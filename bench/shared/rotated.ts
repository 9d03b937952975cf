/** `items` rotated left by `by`: round r of a benchmark starts with the r-th item. */
export function rotated<T>(items: readonly T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
