/**
 * The one-line JSON messages a benchmark's child processes write to stdout for the driver, and
 * their reading. Every line is an object whose `kind` says what it is; anything else a child
 * prints is ignored. Each benchmark defines its own "result" line; the "ready" line of a server
 * is the same everywhere (serve-peer.ts writes it, start-server.ts reads it).
 */

/** A server is listening; `target` is what the next process connects to (an http or NATS URL). */
export interface ReadyLine {
  readonly kind: "ready";
  readonly target: string;
  /** The runtime the server runs on (runtime-label.ts). */
  readonly runtime: string;
}

/** Writes one line for the driver. */
export function writeChildLine<Line extends { readonly kind: string }>(line: Line): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** A reader of the lines whose `kind` is one of `kinds`: undefined for any other output. */
export function childLineParser<Line extends { readonly kind: string }>(
  kinds: readonly Line["kind"][],
): (text: string) => Line | undefined {
  return (text) => {
    if (!text.startsWith('{"kind":')) return undefined;
    try {
      const line = JSON.parse(text) as Line;
      return kinds.includes(line.kind) ? line : undefined;
    } catch {
      return undefined;
    }
  };
}
