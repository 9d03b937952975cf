/**
 * How `troupe dev` shows the output of its processes: every line prefixed with the process's
 * name, padded to a common width and coloured on a terminal (the layout of foreman and
 * concurrently). An actor's JSON log line (runtime/observability/logger.ts) is shown as
 * `HH:MM:SS.mmm level msg key=value …`; any other line is shown as it is.
 */

export interface PrefixStyle {
  /** The width names are padded to: the longest name. */
  readonly width: number;
  /** ANSI colours (only on a terminal, and never with NO_COLOR: https://no-color.org). */
  readonly color: boolean;
}

/** Cyan, yellow, green, magenta, blue, red: the cycle of name colours. */
const NAME_COLORS = [36, 33, 32, 35, 34, 31] as const;
const LEVEL_COLORS: Readonly<Record<string, number>> = { error: 31, warn: 33, debug: 2 };
const RESET = "\x1b[0m";

/** The prefix of the `index`th process's lines: `user      | `. */
export function linePrefix(name: string, index: number, style: PrefixStyle): string {
  const padded = name.padEnd(style.width);
  if (!style.color) return `${padded} | `;
  const color = NAME_COLORS[index % NAME_COLORS.length] ?? 0;
  return `\x1b[${color}m${padded} |${RESET} `;
}

export interface LineSplitter {
  /** Takes a chunk of output; calls `onLine` for every line it completes. */
  push(chunk: string): void;
  /** Emits the rest that has no newline yet (at exit). */
  flush(): void;
}

/** Splits a stream of chunks into lines; a line cut across chunks waits for its end. */
export function createLineSplitter(onLine: (line: string) => void): LineSplitter {
  let partial = "";
  return {
    push(chunk) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
    },
    flush() {
      if (partial === "") return;
      const rest = partial;
      partial = "";
      onLine(rest);
    },
  };
}

export interface FormatOptions {
  /** Keep JSON log lines as they are (for tools that read them). */
  readonly json: boolean;
  readonly color: boolean;
}

/** Fields every process's log line has, or that its prefix already says. */
const SHOWN_ELSEWHERE = new Set(["time", "level", "msg", "actor", "stack"]);

/**
 * The lines shown for one line of a process's output: a JSON log line becomes
 * `time level msg key=value …` (its stack, if any, on the lines after); anything else is kept.
 */
export function formatLogLine(line: string, options: FormatOptions): string[] {
  if (options.json || !line.startsWith("{")) return [line];
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return [line];
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) return [line];
  const fields = record as Record<string, unknown>;
  if (typeof fields.msg !== "string") return [line];

  const level = typeof fields.level === "string" ? fields.level : "info";
  const levelColor = LEVEL_COLORS[level];
  const padded = level.padEnd(5);
  const shownLevel =
    options.color && levelColor !== undefined ? `\x1b[${levelColor}m${padded}${RESET}` : padded;
  const parts = [clockTime(fields.time), shownLevel, fields.msg];
  for (const [key, value] of Object.entries(fields)) {
    if (SHOWN_ELSEWHERE.has(key) || value === undefined) continue;
    parts.push(`${key}=${showValue(value)}`);
  }
  const shown = [parts.filter((part) => part !== "").join(" ")];
  if (typeof fields.stack === "string") shown.push(...fields.stack.split("\n").map((l) => `    ${l.trim()}`));
  return shown;
}

/** `HH:MM:SS.mmm` in local time, from the line's ISO time; "" when it has none. */
function clockTime(time: unknown): string {
  if (typeof time !== "string") return "";
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return "";
  const two = (n: number) => String(n).padStart(2, "0");
  const ms = String(date.getMilliseconds()).padStart(3, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${ms}`;
}

/** A plain word as is; strings with spaces or quotes, arrays and objects as JSON. */
function showValue(value: unknown): string {
  if (typeof value === "string" && /^[^\s"=]+$/.test(value)) return value;
  return JSON.stringify(value) ?? String(value);
}
