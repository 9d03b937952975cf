/**
 * The changes of some products, as an async iterable that WatchProducts forwards. The feed
 * subscribes when it is opened, so a change between the opening and the snapshot the caller
 * sends first is not lost. It ends when `signal` aborts (the caller cancelled, the deadline
 * expired or the actor is draining) or when it is closed.
 *
 * Changes queue up while the reader is slower than the catalogue; the stream's credit keeps the
 * reader honest, and a watch follows at most 100 products.
 */
import type { Catalog, ProductChange } from "./catalog.ts";

export interface ChangeFeed extends AsyncIterable<ProductChange> {
  /** Unsubscribes; a pending read ends. Idempotent. */
  close(): void;
}

export function openChangeFeed(catalog: Catalog, ids: ReadonlySet<string>, signal: AbortSignal): ChangeFeed {
  const queue: ProductChange[] = [];
  let wake: (() => void) | undefined;
  let closed = false;

  const unsubscribe = catalog.subscribe((change) => {
    if (!ids.has(change.product.id)) return;
    queue.push(change);
    wake?.();
  });
  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    signal.removeEventListener("abort", close);
    wake?.();
  };
  if (signal.aborted) close();
  else signal.addEventListener("abort", close, { once: true });

  async function* changes(): AsyncGenerator<ProductChange> {
    try {
      for (;;) {
        if (closed) return; // nobody is reading any more: queued changes are dropped
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      close();
    }
  }

  return { close, [Symbol.asyncIterator]: changes };
}
