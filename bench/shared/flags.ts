/** Readers of the benchmark drivers' flag values (as `parseArgs` returns them), with their errors. */

/** A positive number, or `fallback` when the flag is absent. */
export function positiveFlag(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${flag} must be a positive number, not "${text}"`);
  return value;
}

/** A comma-separated list of names that `is` accepts, or `fallback` when the flag is absent. */
export function listFlag<T extends string>(
  flag: string,
  text: string | undefined,
  fallback: readonly T[],
  is: (s: string) => s is T,
): readonly T[] {
  if (text === undefined) return fallback;
  const items = text.split(",").filter((item) => item !== "");
  const bad = items.filter((item) => !is(item));
  if (bad.length > 0 || items.length === 0)
    throw new Error(`--${flag}: unknown ${bad.join(", ") || "(empty)"}`);
  return items as T[];
}

/** Payload sizes in whole bytes, at least 3 (an EchoRequest's tag and length, and a payload byte). */
export function sizesFlag(text: string | undefined, fallback: readonly number[]): readonly number[] {
  const sizes = text === undefined ? fallback : text.split(",").map((size) => positiveFlag("sizes", size, 0));
  if (sizes.some((size) => !Number.isInteger(size) || size < 3)) {
    throw new Error("--sizes: whole numbers of bytes, at least 3");
  }
  return sizes;
}
