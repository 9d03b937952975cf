/**
 * The `/metrics` page, cached (docs/adr/0025-metrics-for-every-part.md): a page is a `$SRV.STATS`
 * fan-out to every instance, so a scrape storm (several Prometheus replicas, a dashboard, a loop
 * of curl) must not cost one fan-out per hit. A rendered page is served again for `ttlMs` after
 * it was rendered, and scrapes that arrive while a page is being rendered wait for that one
 * (single flight). A failed render is not kept: everyone waiting gets its error, the next scrape
 * tries again.
 */

export interface MetricsCacheOptions {
  /** How long a rendered page is served again, in milliseconds; 0: only concurrent scrapes share one. */
  readonly ttlMs: number;
  /** The clock, in milliseconds (tests pass their own). */
  readonly now: () => number;
}

export const defaultMetricsCacheOptions: MetricsCacheOptions = {
  ttlMs: 5_000,
  now: () => performance.now(),
};

/** Returns the page: a cached one while it is fresh, else the render in flight, else a new render. */
export function cachedMetrics(
  render: () => Promise<string>,
  partial: Partial<MetricsCacheOptions> = {},
): () => Promise<string> {
  const options: MetricsCacheOptions = { ...defaultMetricsCacheOptions, ...partial };
  if (!Number.isFinite(options.ttlMs) || options.ttlMs < 0) {
    throw new Error(`gateway: metricsCacheMs must be a number of milliseconds >= 0, got ${options.ttlMs}`);
  }
  let page: { readonly text: string; readonly at: number } | undefined;
  let rendering: Promise<string> | undefined;
  return () => {
    if (page !== undefined && options.now() - page.at < options.ttlMs) return Promise.resolve(page.text);
    rendering ??= render().then(
      (text) => {
        page = { text, at: options.now() };
        rendering = undefined;
        return text;
      },
      (err: unknown) => {
        rendering = undefined;
        throw err;
      },
    );
    return rendering;
  };
}
