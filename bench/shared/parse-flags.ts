/**
 * One parser from argv for every benchmark driver: its options are a table of flags (flags.ts),
 * each read into the option of the same key, or its default when absent. Unknown flags and
 * positional arguments are errors (`parseArgs`' strict mode).
 */
import { parseArgs } from "node:util";
import type { Flag } from "./flags.ts";

/** The flag of every option. */
export type Flags<Options> = { readonly [K in keyof Options]-?: Flag<Options[K]> };

/** The options from `args`, their keys in the order of `defaults` (as the JSON report lists them). */
export function parseFlags<Options extends object>(
  args: readonly string[],
  flags: Flags<Options>,
  defaults: Options,
): Options {
  const table = Object.values(flags) as Flag<unknown>[];
  const { values } = parseArgs({
    args: [...args],
    options: Object.fromEntries(table.map((flag) => [flag.name, { type: "string" as const }])),
  });
  const options: Partial<Record<keyof Options, unknown>> = {};
  for (const key of Object.keys(defaults) as (keyof Options)[]) {
    const flag = flags[key];
    options[key] = flag.read(values[flag.name] as string | undefined, defaults[key]);
  }
  return options as Options;
}
