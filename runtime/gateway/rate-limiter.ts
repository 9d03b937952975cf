/**
 * Per-client rate limiting: one token bucket per client key (the caller's address), refilled at
 * `perSecond` up to `burst`. The buckets live in this gateway instance's memory: N gateway
 * instances admit up to N times the rate in total. That is the documented scope
 * (docs/adr/0008-gateway.md): a limit shared through NATS would cost a round trip per request.
 *
 * A token bucket rather than a library: the gateway needs one check per request and an
 * eviction bound, a dozen lines; the rate-limit packages for Hono store fixed windows per key
 * without a burst and have no bound on the keys they keep.
 */

export interface RateLimit {
  /** Sustained requests per second per client. */
  readonly perSecond: number;
  /** Requests a client may make at once after being idle. */
  readonly burst: number;
}

export interface RateLimiterOptions extends RateLimit {
  /** Clients remembered at most; the least recently seen is forgotten first. */
  readonly maxClients: number;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
}

/**
 * The gateway's limit when none is configured: generous for one person or one office behind a
 * NAT (a page load is tens of requests, a person a few a second), and an eighth of what one
 * gateway instance on two cores serves (bench/README.md), so one address cannot take it all
 * (docs/adr/0029-a-hardened-edge.md).
 */
export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 1000, burst: 2000 };

export const defaultRateLimiterOptions: RateLimiterOptions = {
  ...DEFAULT_RATE_LIMIT,
  maxClients: 100_000,
  now: () => performance.now(),
};

/** Takes one token for `key`: undefined when allowed, otherwise milliseconds until one is free. */
export type RateLimiter = (key: string) => number | undefined;

interface Bucket {
  tokens: number;
  at: number;
}

export function createRateLimiter(partial: Partial<RateLimiterOptions> = {}): RateLimiter {
  const { perSecond, burst, maxClients, now } = { ...defaultRateLimiterOptions, ...partial };
  if (!(perSecond > 0) || !(burst >= 1) || !(maxClients >= 1)) {
    throw new Error("rate limit: perSecond must be > 0, burst and maxClients >= 1");
  }
  const buckets = new Map<string, Bucket>();
  return (key) => {
    const t = now();
    let bucket = buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: burst, at: t };
      if (buckets.size >= maxClients) {
        const oldest = buckets.keys().next();
        if (oldest.done !== true) buckets.delete(oldest.value);
      }
    } else {
      // Re-inserted below, so the map's order is least recently seen first.
      buckets.delete(key);
      bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) * perSecond) / 1000);
      bucket.at = t;
    }
    buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.ceil(((1 - bucket.tokens) * 1000) / perSecond);
  };
}

/**
 * `100/s`, `6000/m`, `100/s:300` (a burst of 300; the burst is the rate's count otherwise), or
 * `off` (false: no limit). Throws a clear error for anything else.
 */
export function parseRateLimit(text: string): RateLimit | false {
  if (text.trim() === "off") return false;
  const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(s|m|h)\s*(?::\s*(\d+))?\s*$/.exec(text);
  if (match === null) {
    throw new Error(`rate limit "${text}" is not <count>/<s|m|h>[:<burst>] or off, e.g. 100/s or 100/s:300`);
  }
  const count = Number(match[1]);
  const seconds = { s: 1, m: 60, h: 3600 }[match[2] as "s" | "m" | "h"];
  const burst = match[3] === undefined ? Math.max(1, Math.ceil(count)) : Number(match[3]);
  if (!(count > 0) || !(burst >= 1)) throw new Error(`rate limit "${text}" must allow at least one request`);
  return { perSecond: count / seconds, burst };
}
