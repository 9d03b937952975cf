/**
 * Small helpers for the JetStream tests: a tally that resolves once it has seen enough, a promise
 * whose resolution is in the test's hands, and polling for conditions no event announces (consumer
 * counters on the server), always with a deadline.
 */

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Counts what handlers saw, by id; `reached(n)` resolves once `n` entries were added. */
export interface Tally {
  readonly entries: readonly string[];
  readonly distinct: ReadonlySet<string>;
  add(id: string): void;
  reached(count: number, timeoutMs?: number): Promise<void>;
}

export function createTally(name = "tally"): Tally {
  const entries: string[] = [];
  const distinct = new Set<string>();
  const waiters: { count: number; resolve(): void }[] = [];
  return {
    entries,
    distinct,
    add(id) {
      entries.push(id);
      distinct.add(id);
      for (const waiter of [...waiters]) {
        if (entries.length < waiter.count) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
    reached(count, timeoutMs = 15_000) {
      if (entries.length >= count) return Promise.resolve();
      const done = deferred();
      waiters.push({ count, resolve: done.resolve });
      return withTimeout(done.promise, timeoutMs, () => `${name}: ${entries.length} of ${count} entries`);
    },
  };
}

/** Rejects with `what()` when `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what()}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` until it returns true; for conditions that no event announces (a consumer's
 * counters on the server). Rejects naming `what` after `timeoutMs`.
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves after `ms`: the duration of simulated work inside a handler, never synchronisation. */
export function work(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
