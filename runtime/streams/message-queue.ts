/** A stream's receive side (docs/adr/0006-rpc-streams.md). */
import { Code, ConnectError } from "@connectrpc/connect";
/**
 * What a receiver reads: the peer's messages in order. It checks each frame's sequence number
 * (a gap is `data_loss`: core NATS drops messages for a slow consumer) and that the peer stays
 * within the credit granted (`resource_exhausted` otherwise), and grants credit back as its reader
 * consumes, in batches of half the window, so at most `window` messages are ever outstanding.
 */
export interface MessageQueue<T> extends AsyncIterable<T> {
  /** Messages received so far. */
  readonly received: number;
  /** Queues message `seq`; throws a ConnectError when it is out of order or beyond the credit. */
  push(seq: number, message: T): void;
  /**
   * The peer sent its last message: `seq` messages in all (undefined: not stated). Reading ends
   * after the queued messages, with `error` if given; throws `data_loss` when messages are missing.
   */
  end(seq: number | undefined, error?: unknown): void;
  /** Ends reading with `error`, after the messages already queued. No effect once ended. */
  fail(error: unknown): void;
}

export function createMessageQueue<T>(window: number, grant: (credit: number) => void): MessageQueue<T> {
  const items: T[] = [];
  const batch = Math.max(1, Math.floor(window / 2));
  let received = 0;
  let granted = window;
  let consumed = 0;
  let outcome: { readonly error: unknown } | undefined;
  let waiter: { resolve(result: IteratorResult<T>): void; reject(reason: unknown): void } | undefined;

  const taken = (value: T): IteratorResult<T> => {
    consumed++;
    if (outcome === undefined && consumed >= batch) {
      granted += consumed;
      const credit = consumed;
      consumed = 0;
      grant(credit);
    }
    return { done: false, value };
  };

  const settleWaiter = () => {
    if (waiter === undefined || outcome === undefined) return;
    const { resolve, reject } = waiter;
    waiter = undefined;
    if (outcome.error === undefined) resolve({ done: true, value: undefined });
    else reject(outcome.error);
  };

  const iterator: AsyncIterator<T> = {
    next() {
      if (items.length > 0) return Promise.resolve(taken(items.shift() as T));
      if (outcome !== undefined) {
        return outcome.error === undefined
          ? Promise.resolve({ done: true, value: undefined })
          : Promise.reject(outcome.error);
      }
      if (waiter !== undefined)
        return Promise.reject(new Error("a message queue serves one reader at a time"));
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    return() {
      return Promise.resolve({ done: true, value: undefined });
    },
  };

  return {
    get received() {
      return received;
    },
    push(seq, message) {
      if (seq !== received + 1) {
        throw new ConnectError(
          `stream message ${seq} arrived when ${received + 1} was due: messages were lost or reordered`,
          Code.DataLoss,
        );
      }
      if (seq > granted) {
        throw new ConnectError(
          `the peer sent stream message ${seq} with credit for only ${granted}`,
          Code.ResourceExhausted,
        );
      }
      received = seq;
      if (waiter !== undefined) {
        const { resolve } = waiter;
        waiter = undefined;
        resolve(taken(message));
      } else {
        items.push(message);
      }
    },
    end(seq, error) {
      if (outcome !== undefined) return;
      if (seq !== undefined && seq !== received) {
        throw new ConnectError(
          `the stream ended after message ${seq} but ${received} arrived: messages were lost`,
          Code.DataLoss,
        );
      }
      outcome = { error };
      if (items.length === 0) settleWaiter();
    },
    fail(error) {
      if (outcome !== undefined) return;
      outcome = { error };
      if (items.length === 0) settleWaiter();
    },
    [Symbol.asyncIterator]: () => iterator,
  };
}
