/**
 * The one JSON line a measuring process writes to stdout for the driver, and its reading.
 * Anything else the process prints is ignored.
 */

/** What one process measured for one payload size. */
export interface EventsResult {
  /** The encoded EchoRequest's size in bytes (the event's body). */
  readonly sizeBytes: number;
  readonly inFlight: number;
  /** Publishes acknowledged in the measured window, after warm-up. */
  readonly published: number;
  readonly publishSeconds: number;
  readonly publishesPerSecond: number;
  /** Events in the pre-filled stream; the first `consumeWarmup` are not timed. */
  readonly consumed: number;
  readonly consumeWarmup: number;
  /** From the warm-up's last event to the server holding every ack. */
  readonly consumeSeconds: number;
  readonly consumedPerSecond: number;
}

export interface ChildLine {
  readonly kind: "result";
  readonly runtime: string;
  readonly result: EventsResult;
}

/** Writes one line for the driver. */
export function writeChildLine(line: ChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** The ChildLine in one line of a child's stdout, or undefined for any other output. */
export function parseChildLine(text: string): ChildLine | undefined {
  if (!text.startsWith('{"kind":')) return undefined;
  try {
    const line = JSON.parse(text) as ChildLine;
    return line.kind === "result" ? line : undefined;
  } catch {
    return undefined;
  }
}
