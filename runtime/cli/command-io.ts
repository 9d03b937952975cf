/**
 * Where a command's output goes and its input comes from: the process's stdout, stderr and
 * stdin lines by default; tests pass their own to run a command in-process and read what it
 * printed. Conventions (docs/adr/0023-the-troupe-cli.md): results on `out`, one line per
 * problem on `err`.
 */
import { createInterface } from "node:readline";

export interface CommandIo {
  /** One line (or block) of the result, to stdout. */
  out(text: string): void;
  /** A problem or a note, to stderr. */
  err(text: string): void;
  /** The lines of stdin, read as they come (NDJSON for streaming calls). */
  stdinLines(): AsyncIterable<string>;
}

export const processIo: CommandIo = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
  stdinLines: () => createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY }),
};

/** A CommandIo that keeps what a command printed, for code that runs a command in-process. */
export interface CollectedIo extends CommandIo {
  /** Each `out` call's text, in order. */
  readonly outLines: string[];
  /** Each `err` call's text, in order. */
  readonly errLines: string[];
}

/** Collects `out` and `err`; stdin is the given lines. */
export function collectingIo(stdin: readonly string[] = []): CollectedIo {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return {
    outLines,
    errLines,
    out: (text) => outLines.push(text),
    err: (text) => errLines.push(text),
    stdinLines: async function* () {
      yield* stdin;
    },
  };
}
