/**
 * The two bounds of the delivery loop (consume.ts): a limit on handlers running at once, and
 * per-key lanes that let at most one message per key through at a time, in arrival order.
 */

/** At most `limit` holders at once; waiters are served first come, first served. */
export interface ConcurrencyLimit {
  readonly active: number;
  acquire(): Promise<void>;
  /** Takes a slot if one is free now, without a promise; false when the caller must `acquire()`. */
  tryAcquire(): boolean;
  release(): void;
}

export function createConcurrencyLimit(limit: number): ConcurrencyLimit {
  let active = 0;
  const waiters: (() => void)[] = [];
  return {
    get active() {
      return active;
    },
    acquire() {
      if (active < limit) {
        active++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    tryAcquire() {
      // A free slot means nobody waits: taking it jumps no queue.
      if (active >= limit) return false;
      active++;
      return true;
    },
    release() {
      const next = waiters.shift();
      // The slot passes straight to the next waiter, so `active` stays as it is.
      if (next !== undefined) next();
      else active--;
    },
  };
}

/** One lane per key: `acquire(key)` resolves once every earlier holder of `key` has released. */
export interface KeyLanes {
  /** Keys with a holder or a waiter. */
  readonly size: number;
  acquire(key: string): Promise<() => void>;
}

export function createKeyLanes(): KeyLanes {
  // The promise that settles when the last holder of each key (so far) releases.
  const tails = new Map<string, Promise<void>>();
  return {
    get size() {
      return tails.size;
    },
    async acquire(key) {
      const previous = tails.get(key);
      let release!: () => void;
      const tail = new Promise<void>((resolve) => {
        release = resolve;
      });
      tails.set(key, tail);
      if (previous !== undefined) await previous;
      return () => {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      };
    },
  };
}
