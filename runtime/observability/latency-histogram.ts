/**
 * A latency histogram with fixed bucket bounds, recorded on every call: what a Prometheus
 * histogram exposes (cumulative `le` buckets, sum, count;
 * https://prometheus.io/docs/concepts/metric_types/#histogram) and what `$SRV.STATS` reports,
 * plus p50/p95/p99 estimated from the buckets the way Prometheus' histogram_quantile() does
 * (linear interpolation inside the bucket the rank falls in). Fixed bounds make instances
 * summable: the gateway adds buckets of the same `le` across instances.
 */

/**
 * Upper bounds in seconds, from 100 µs (an in-process call on a quiet machine) to 10 s; the
 * last bucket (+Inf) catches the rest.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** A histogram as `$SRV.STATS` carries it (JSON: +Inf is written as the string "+Inf"). */
export interface LatencyHistogramSnapshot {
  /** `[upper bound in seconds or "+Inf", observations <= bound]`, cumulative, ascending. */
  readonly buckets: readonly (readonly [number | "+Inf", number])[];
  readonly count: number;
  readonly sum_seconds: number;
  /** Estimated from the buckets; 0 without observations. */
  readonly p50_seconds: number;
  readonly p95_seconds: number;
  readonly p99_seconds: number;
}

export interface LatencyHistogram {
  /** Counts one observation; O(buckets) and allocation-free. */
  observe(seconds: number): void;
  snapshot(): LatencyHistogramSnapshot;
  reset(): void;
}

export function createLatencyHistogram(
  bounds: readonly number[] = LATENCY_BUCKETS_SECONDS,
): LatencyHistogram {
  // counts[i] = observations in (bounds[i-1], bounds[i]]; the last slot is (last bound, +Inf).
  const counts = new Float64Array(bounds.length + 1);
  const totals = new Float64Array(2); // [count, sum]: unboxed doubles, no allocation per call
  return {
    observe(seconds) {
      // NaN and negatives count as 0, never poison the sum (Math.max would keep NaN).
      let value = 0;
      if (seconds > 0) value = seconds;
      let i = 0;
      while (i < bounds.length && value > (bounds[i] as number)) i++;
      counts[i] = (counts[i] as number) + 1;
      totals[0] = (totals[0] as number) + 1;
      totals[1] = (totals[1] as number) + value;
    },
    snapshot() {
      const buckets: [number | "+Inf", number][] = [];
      let cumulative = 0;
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += counts[i] as number;
        buckets.push([i < bounds.length ? (bounds[i] as number) : "+Inf", cumulative]);
      }
      const count = totals[0] as number;
      return {
        buckets,
        count,
        sum_seconds: totals[1] as number,
        p50_seconds: quantileOf(0.5, buckets),
        p95_seconds: quantileOf(0.95, buckets),
        p99_seconds: quantileOf(0.99, buckets),
      };
    },
    reset() {
      counts.fill(0);
      totals.fill(0);
    },
  };
}

/**
 * The `q` quantile (0..1) estimated from cumulative buckets, as Prometheus' histogram_quantile:
 * find the bucket holding rank q·count, interpolate linearly between its bounds (the first
 * bucket starts at 0); a rank in +Inf answers the highest finite bound. 0 without observations.
 */
export function quantileOf(q: number, buckets: readonly (readonly [number | "+Inf", number])[]): number {
  const count = buckets.length === 0 ? 0 : (buckets[buckets.length - 1] as readonly [unknown, number])[1];
  if (count === 0) return 0;
  const rank = q * count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, cumulative] of buckets) {
    if (cumulative >= rank) {
      if (bound === "+Inf") return lowerBound;
      const inBucket = cumulative - lowerCount;
      return inBucket === 0 ? bound : lowerBound + (bound - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    if (bound !== "+Inf") lowerBound = bound;
    lowerCount = cumulative;
  }
  return lowerBound;
}
