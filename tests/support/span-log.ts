/**
 * An in-memory span exporter that tests can wait on: `next(match)` resolves with the first
 * finished span that matches, already exported or still to come. Spans that end after the code
 * under test returns (a consumer span ends after its handler) are awaited, not slept for.
 */
import type { ExportResult } from "@opentelemetry/core";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { withTimeout } from "./jetstream-test-kit.ts";

export class SpanLog extends InMemorySpanExporter {
  #waiters = new Set<{ match: (span: ReadableSpan) => boolean; resolve: (span: ReadableSpan) => void }>();

  override export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    super.export(spans, resultCallback);
    for (const span of spans) {
      for (const waiter of [...this.#waiters]) {
        if (!waiter.match(span)) continue;
        this.#waiters.delete(waiter);
        waiter.resolve(span);
      }
    }
  }

  next(match: (span: ReadableSpan) => boolean, what: string, timeoutMs = 10_000): Promise<ReadableSpan> {
    const seen = this.getFinishedSpans().find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    let waiter: { match: typeof match; resolve: (span: ReadableSpan) => void } | undefined;
    const found = new Promise<ReadableSpan>((resolve) => {
      waiter = { match, resolve };
      this.#waiters.add(waiter);
    });
    return withTimeout(found, timeoutMs, () => `no ${what} among ${this.names()}`).finally(() => {
      if (waiter !== undefined) this.#waiters.delete(waiter);
    });
  }

  names(): string {
    return this.getFinishedSpans()
      .map((s) => s.name)
      .join(", ");
  }
}
