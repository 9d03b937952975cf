/**
 * One parser from argv for every benchmark driver: its options are a table of flags (flags.ts),
 * each read into the option of the same key, or its default when absent. `--help` lists the
 * flags and their defaults; an unknown flag, a positional argument or a bad value is a one-line
 * error that names the flags, and exits 2.
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
  const keys = Object.keys(defaults) as (keyof Options)[];
  const usage = keys
    .map((key) => `  --${flags[key].name} (default ${JSON.stringify(defaults[key])})`)
    .join("\n");
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`flags:\n${usage}\n`);
    process.exit(0);
  }
  try {
    const { values } = parseArgs({
      args: [...args],
      options: Object.fromEntries(keys.map((key) => [flags[key].name, { type: "string" as const }])),
    });
    const options: Partial<Record<keyof Options, unknown>> = {};
    for (const key of keys) {
      const flag = flags[key];
      options[key] = flag.read(values[flag.name] as string | undefined, defaults[key]);
    }
    return options as Options;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\nflags:\n${usage}\n`);
    process.exit(2);
  }
}
