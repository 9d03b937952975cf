/**
 * A retry budget, as Linkerd's (https://linkerd.io/2/reference/retries/, after Finagle's
 * RetryBudget): retries may add at most `ratio` of the calls of the last `windowMs`, plus
 * `minRetriesPerSecond` so that a quiet client can still retry. When a target fails, its callers
 * stop multiplying the load instead of hammering it with `maxAttempts`× the calls.
 *
 * Hand-written: cockatiel (used for backoff and breakers) bounds retries per call only, not
 * across calls, and Linkerd's budget is a few counters in time buckets.
 */
export interface RetryBudgetOptions {
  /** Retries (and hedges) allowed per first attempt over the window: 0.2 = 20% extra load. */
  readonly ratio: number;
  /** Retries per second allowed regardless of traffic. */
  readonly minRetriesPerSecond: number;
  /** How far back calls and retries are counted. */
  readonly windowMs: number;
}

export const defaultRetryBudgetOptions: RetryBudgetOptions = {
  ratio: 0.2,
  minRetriesPerSecond: 10,
  windowMs: 10_000,
};

export interface RetryBudget {
  /** Counts a first attempt. */
  deposit(): void;
  /** Takes one retry from the budget; false when it is spent (the retry must not be made). */
  tryWithdraw(): boolean;
  /** Retries still allowed now. */
  available(): number;
}

/** Time buckets per window: the window slides in tenths. */
const BUCKETS = 10;

export function createRetryBudget(options: RetryBudgetOptions, now: () => number = Date.now): RetryBudget {
  if (!(options.ratio >= 0) || !(options.minRetriesPerSecond >= 0) || !(options.windowMs > 0)) {
    throw new Error("retry budget: ratio and minRetriesPerSecond must be >= 0, windowMs > 0");
  }
  const bucketMs = options.windowMs / BUCKETS;
  const calls = new Float64Array(BUCKETS);
  const retries = new Float64Array(BUCKETS);
  let current = Math.floor(now() / bucketMs);
  let callSum = 0;
  let retrySum = 0;
  const floor = (options.minRetriesPerSecond * options.windowMs) / 1000;

  // Drops the buckets that slid out of the window since the last call.
  const advance = () => {
    const bucket = Math.floor(now() / bucketMs);
    if (bucket === current) return;
    const steps = Math.min(bucket - current, BUCKETS);
    for (let i = 1; i <= steps; i++) {
      const slot = (current + i) % BUCKETS;
      callSum -= calls[slot] as number;
      retrySum -= retries[slot] as number;
      calls[slot] = 0;
      retries[slot] = 0;
    }
    current = bucket;
  };
  const available = () => Math.floor(floor + options.ratio * callSum - retrySum);

  return {
    deposit() {
      advance();
      calls[current % BUCKETS] = (calls[current % BUCKETS] as number) + 1;
      callSum++;
    },
    tryWithdraw() {
      advance();
      if (available() < 1) return false;
      retries[current % BUCKETS] = (retries[current % BUCKETS] as number) + 1;
      retrySum++;
      return true;
    },
    available() {
      advance();
      return Math.max(0, available());
    },
  };
}
