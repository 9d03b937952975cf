/**
 * The benchmark drivers' flags: each option's name on the command line and how its text (as
 * `parseArgs` returns it) becomes the option's value, with its error. parse-flags.ts reads them.
 */

export interface Flag<T> {
  /** The flag without its dashes: `warmup-seconds`. */
  readonly name: string;
  /** The option's value from the flag's text, or `fallback` when the flag is absent. */
  read(text: string | undefined, fallback: T): T;
}

/** A positive number, or `fallback` when the flag is absent. */
export function positiveFlag(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${flag} must be a positive number, not "${text}"`);
  return value;
}

/** A positive number of seconds, MiB…: `--seconds 2.5`. */
export function numberFlag(name: string): Flag<number> {
  return { name, read: (text, fallback) => positiveFlag(name, text, fallback) };
}

/** A positive count, rounded to a whole number: `--rounds 3`. */
export function countFlag(name: string): Flag<number> {
  return { name, read: (text, fallback) => Math.round(positiveFlag(name, text, fallback)) };
}

/** A comma-separated list of names that `is` accepts: `--peers raw,troupe`. */
export function namesFlag<T extends string>(name: string, is: (s: string) => s is T): Flag<readonly T[]> {
  return {
    name,
    read(text, fallback) {
      if (text === undefined) return fallback;
      const items = text.split(",").filter((item) => item !== "");
      const bad = items.filter((item) => !is(item));
      if (bad.length > 0 || items.length === 0)
        throw new Error(`--${name}: unknown ${bad.join(", ") || "(empty)"}`);
      return items as T[];
    },
  };
}

/** Payload sizes in whole bytes, at least 3 (an EchoRequest's tag and length, and a payload byte). */
export const sizesFlag: Flag<readonly number[]> = {
  name: "sizes",
  read(text, fallback) {
    const sizes =
      text === undefined ? fallback : text.split(",").map((size) => positiveFlag("sizes", size, 0));
    if (sizes.some((size) => !Number.isInteger(size) || size < 3)) {
      throw new Error("--sizes: whole numbers of bytes, at least 3");
    }
    return sizes;
  },
};

/** A file to write the raw results to as JSON; empty for nowhere. */
export const jsonFlag: Flag<string> = { name: "json", read: (text, fallback) => text ?? fallback };

/** A file to write the main table's chart to as SVG (bar-chart-svg.ts); empty for none. */
export const chartFlag: Flag<string> = { name: "chart", read: (text, fallback) => text ?? fallback };
