/**
 * The orchestrator's console: one printer per process, each line prefixed with the process's
 * name (log-prefixer.ts). Lines a process wrote to stderr go to stderr, the rest to stdout.
 */
import type { OutputStream } from "../../platform/spawn-process.ts";
import { writeStderr, writeStdout } from "../../platform/terminal.ts";
import { createLineSplitter, formatLogLine, type LineSplitter, linePrefix } from "./log-prefixer.ts";

export interface Printer {
  /** A line of the orchestrator's own about this process (stdout). */
  line(text: string): void;
  /** A warning or error line (stderr). */
  error(text: string): void;
  /** A chunk of the process's own output, as it arrives. */
  output(chunk: string, stream: OutputStream): void;
  /** Prints what is left of a last, unterminated line. */
  flush(): void;
}

export interface DevConsole {
  printer(name: string): Printer;
  /** Lines without a prefix (the ready summary, meant to be copied from). */
  plain(lines: readonly string[]): void;
}

export interface DevConsoleOptions {
  /** Every name that will print, so that prefixes line up from the first line. */
  readonly names: readonly string[];
  readonly color: boolean;
  /** Keep actors' JSON log lines as they are. */
  readonly jsonLogs: boolean;
}

export function createDevConsole(options: DevConsoleOptions): DevConsole {
  const width = Math.max(...options.names.map((name) => name.length), 6);
  const style = { width, color: options.color };
  const format = { json: options.jsonLogs, color: options.color };
  const indexOf = new Map(options.names.map((name, index) => [name, index]));
  return {
    printer(name) {
      const prefix = linePrefix(name, indexOf.get(name) ?? indexOf.size, style);
      const write = (stream: OutputStream) => (line: string) => {
        const text = formatLogLine(line, format)
          .map((l) => `${prefix}${l}\n`)
          .join("");
        if (stream === "stderr") writeStderr(text);
        else writeStdout(text);
      };
      const splitters: Record<OutputStream, LineSplitter> = {
        stdout: createLineSplitter(write("stdout")),
        stderr: createLineSplitter(write("stderr")),
      };
      return {
        line: (text) => writeStdout(`${prefix}${text}\n`),
        error: (text) => writeStderr(`${prefix}${text}\n`),
        output: (chunk, stream) => splitters[stream].push(chunk),
        flush() {
          splitters.stdout.flush();
          splitters.stderr.flush();
        },
      };
    },
    plain(lines) {
      writeStdout(lines.map((line) => `${line}\n`).join(""));
    },
  };
}
