/**
 * Structured logging: one JSON object per line on the console (stderr for warnings and errors,
 * which Bun, Deno and Node all do). A line written while a span is active (a handler, a message
 * handler, with an OpenTelemetry SDK installed) carries its `trace_id` and `span_id`, so logs
 * and traces join up.
 */
import { activeSpanIds } from "./tracing.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

export function createJsonLogger(base: Record<string, unknown> = {}, minLevel: LogLevel = "info"): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return {
    log(level, message, fields) {
      if (order[level] < order[minLevel]) return;
      const line = JSON.stringify({
        time: new Date().toISOString(),
        level,
        msg: message,
        ...activeSpanIds(),
        ...base,
        ...fields,
      });
      if (level === "error" || level === "warn") console.error(line);
      else console.log(line);
    },
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = { log() {} };

/** The fields that describe an error in a log line, stack included. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { error: err.message, errorName: err.name, stack: err.stack };
  return { error: String(err) };
}
