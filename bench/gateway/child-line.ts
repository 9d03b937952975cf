/**
 * The one-line JSON messages the benchmark's child processes write to stdout for the driver: a
 * server's "ready" (where to reach it) and a load generator's "result". Anything else a child
 * prints is ignored.
 */

/** What one load generator measured against one peer. */
export interface LoadResult {
  /** Connections (HTTP/1.1) or streams (HTTP/2) kept busy. */
  readonly concurrency: number;
  /** Responses completed in the measured window, after warm-up. */
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Latency of the responses of the measured window, nearest rank, in µs. */
  readonly p50Us: number;
  readonly p99Us: number;
  /** Responses that were not 200 with the expected body, or connection errors (must be 0). */
  readonly errors: number;
}

export type ChildLine =
  /** A server is listening; `target` is its http URL (or, for the actor, its NATS URL). */
  | { readonly kind: "ready"; readonly target: string; readonly runtime: string }
  | { readonly kind: "result"; readonly result: LoadResult };

/** Writes one line for the driver. */
export function writeChildLine(line: ChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** The ChildLine in one line of a child's stdout, or undefined for any other output. */
export function parseChildLine(text: string): ChildLine | undefined {
  if (!text.startsWith('{"kind":')) return undefined;
  try {
    const line = JSON.parse(text) as ChildLine;
    return line.kind === "ready" || line.kind === "result" ? line : undefined;
  } catch {
    return undefined;
  }
}
