/**
 * The one-line JSON messages a benchmark child process (an echo server or a client) writes to
 * stdout for the driver, and their reading. Anything else a child prints is ignored.
 */

/** What one client measured for one payload size. */
export interface SizeResult {
  /** The encoded EchoRequest's size in bytes (the NATS payload; the HTTP/2 request body). */
  readonly sizeBytes: number;
  /** Calls timed one at a time, after warm-up. */
  readonly sequentialCalls: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** Calls completed in the measured window with `inFlight` calls always outstanding. */
  readonly concurrentCalls: number;
  readonly inFlight: number;
  readonly callsPerSecond: number;
}

export type ChildLine =
  /** A server is listening; `target` is what its client connects to (a NATS or http URL). */
  | { readonly kind: "ready"; readonly target: string }
  /** A client's measurements. */
  | { readonly kind: "result"; readonly runtime: string; readonly sizes: readonly SizeResult[] };

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
