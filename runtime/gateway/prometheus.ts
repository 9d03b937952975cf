/**
 * The `/metrics` page: every instance's `$SRV.STATS` (discover.ts serviceStats), rendered in the
 * Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format). One scrape
 * of the gateway shows the whole system; each series carries `service` and `instance` labels, so
 * Prometheus sums across instances (the histogram buckets are fixed, latency-histogram.ts).
 *
 *   troupe_instance_info{service,instance,version}           gauge, 1 per answering instance
 *   troupe_rpc_requests_total{service,instance,endpoint,code} counter, code = ok | Connect code
 *   troupe_rpc_in_flight{service,instance,endpoint}           gauge
 *   troupe_rpc_duration_seconds{service,instance,endpoint}    histogram (_bucket{le}, _sum, _count)
 *   troupe_rpc_duration_quantile_seconds{…,quantile}          gauge: p50/p95/p99 from the buckets
 *   troupe_circuit_state{service,instance,target,state}       gauge, 1 for the current state
 *   troupe_client_in_flight{service,instance,target}          gauge, outgoing calls in flight
 *   troupe_consumer_{handled,failed,dead_lettered}_total{service,instance,stream,consumer} counters
 *   troupe_consumer_in_flight{…}                              gauge, messages the instance holds
 *   troupe_consumer_handler_duration_seconds{…}               histogram of handler runs
 *   troupe_consumer_handler_duration_quantile_seconds{…,quantile} gauge: p50/p95/p99
 *   troupe_consumer_pending_messages{…}                       gauge, JetStream's num_pending
 *   troupe_consumer_ack_pending_messages{…}                   gauge, JetStream's num_ack_pending
 *
 * Endpoints of services that are not Troupe actors (no `data`) still show their ADR-32 counts:
 * successes as code="ok", errors as code="unknown". See docs/adr/0014-tracing-and-metrics.md and
 * docs/adr/0025-metrics-for-every-part.md.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type DiscoverOptions, serviceStats } from "../discovery/discover.ts";
import type { StatsResponse } from "../discovery/service-responses.ts";
import type { EndpointMetricsSnapshot } from "../observability/endpoint-stats.ts";
import type { LatencyHistogramSnapshot } from "../observability/latency-histogram.ts";

export interface RenderMetricsOptions {
  /** How discovery collects the STATS replies (defaults: discover.ts, shorter stall). */
  readonly discover: Partial<DiscoverOptions>;
}

export const defaultRenderMetricsOptions: RenderMetricsOptions = {
  discover: { timeoutMs: 1_000, stallMs: 100 },
};

/** The content type a `/metrics` response must carry. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Asks every instance for its STATS and renders them: the body of the gateway's `/metrics`. */
export async function renderMetrics(
  nc: NatsConnection,
  partial: Partial<RenderMetricsOptions> = {},
): Promise<string> {
  const options: RenderMetricsOptions = { ...defaultRenderMetricsOptions, ...partial };
  return renderPrometheus(await serviceStats(nc, options.discover));
}

type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly type: "counter" | "gauge" | "histogram";
  readonly help: string;
  readonly samples: string[];
}

/** Renders STATS replies as Prometheus text; pure, so it can be tested on given replies. */
export function renderPrometheus(instances: readonly StatsResponse[]): string {
  const families = new Map<string, Family>();
  const family = (name: string, type: Family["type"], help: string): Family => {
    let f = families.get(name);
    if (f === undefined) {
      f = { type, help, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const sample = (f: Family, name: string, labels: Labels, value: number) => {
    f.samples.push(`${name}${labelsOf(labels)} ${formatValue(value)}`);
  };

  const info = family("troupe_instance_info", "gauge", "Instances answering $SRV.STATS (value 1).");
  const requests = family(
    "troupe_rpc_requests_total",
    "counter",
    "RPC requests handled, by outcome (ok or the Connect error code).",
  );
  const inFlight = family("troupe_rpc_in_flight", "gauge", "RPC calls accepted and not answered yet.");
  const duration = family("troupe_rpc_duration_seconds", "histogram", "Time from request to reply.");
  const quantiles = family(
    "troupe_rpc_duration_quantile_seconds",
    "gauge",
    "p50/p95/p99 of troupe_rpc_duration_seconds, estimated by the instance from its buckets.",
  );

  for (const instance of instances) {
    const base = { service: instance.name, instance: instance.id };
    sample(info, "troupe_instance_info", { ...base, version: instance.version }, 1);
    for (const endpoint of instance.endpoints) {
      const labels = { ...base, endpoint: endpoint.name };
      const data = endpointData(endpoint.data);
      if (data === undefined) {
        const errors = endpoint.num_errors;
        sample(
          requests,
          "troupe_rpc_requests_total",
          { ...labels, code: "ok" },
          endpoint.num_requests - errors,
        );
        sample(requests, "troupe_rpc_requests_total", { ...labels, code: "unknown" }, errors);
        continue;
      }
      for (const [code, count] of Object.entries(data.requests_by_code)) {
        sample(requests, "troupe_rpc_requests_total", { ...labels, code }, count);
      }
      sample(inFlight, "troupe_rpc_in_flight", labels, data.in_flight);
      histogram(duration, "troupe_rpc_duration_seconds", quantiles, labels, data.latency, sample);
    }
    renderInstanceData(instance.data, base, family, sample);
    renderConsumers(instance.data, base, family, sample);
  }

  const lines: string[] = [];
  for (const [name, f] of families) {
    if (f.samples.length === 0) continue;
    lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.samples);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/**
 * What serveActor reports per instance (the top-level STATS `data`): the outgoing-call policies'
 * snapshot (runtime/resilience/target-state.ts) and the host's load (ADR 0011, ADR 0014).
 */
function renderInstanceData(
  data: unknown,
  base: Labels,
  family: (name: string, type: Family["type"], help: string) => Family,
  sample: (f: Family, name: string, labels: Labels, value: number) => void,
): void {
  if (!isRecord(data)) return;
  if (isRecord(data.host)) {
    const { inFlight, shed } = data.host;
    if (typeof inFlight === "number") {
      const f = family("troupe_host_in_flight", "gauge", "Calls the instance is serving now.");
      sample(f, "troupe_host_in_flight", base, inFlight);
    }
    if (typeof shed === "number") {
      const f = family(
        "troupe_host_shed_total",
        "counter",
        "Calls refused at once over the in-flight limit.",
      );
      sample(f, "troupe_host_shed_total", base, shed);
    }
  }
  const targets =
    isRecord(data.policies) && Array.isArray(data.policies.targets) ? data.policies.targets : [];
  for (const t of targets) {
    if (!isRecord(t) || typeof t.target !== "string") continue;
    const labels = { ...base, target: t.target };
    if (typeof t.breaker === "string") {
      const f = family(
        "troupe_circuit_state",
        "gauge",
        "Circuit breaker of outgoing calls per target: 1 for its current state.",
      );
      sample(f, "troupe_circuit_state", { ...labels, state: t.breaker }, 1);
    }
    for (const [key, name, type, help] of CLIENT_SERIES) {
      const value = t[key];
      if (typeof value === "number") sample(family(name, type, help), name, labels, value);
    }
  }
}

type FamilyOf = (name: string, type: Family["type"], help: string) => Family;
type SampleOf = (f: Family, name: string, labels: Labels, value: number) => void;

/** A histogram's `_bucket`, `_sum` and `_count` samples, and its p50/p95/p99 in `quantiles`. */
function histogram(
  f: Family,
  name: string,
  quantiles: Family,
  labels: Labels,
  latency: LatencyHistogramSnapshot,
  sample: SampleOf,
): void {
  for (const [le, count] of latency.buckets)
    sample(f, `${name}_bucket`, { ...labels, le: String(le) }, count);
  sample(f, `${name}_sum`, labels, latency.sum_seconds);
  sample(f, `${name}_count`, labels, latency.count);
  for (const [q, value] of [
    ["0.5", latency.p50_seconds],
    ["0.95", latency.p95_seconds],
    ["0.99", latency.p99_seconds],
  ] as const) {
    sample(quantiles, `${name.replace(/_seconds$/, "")}_quantile_seconds`, { ...labels, quantile: q }, value);
  }
}

/**
 * The event and job consumers an actor reports in its STATS `data.consumers`
 * (runtime/jetstream/consumer-stats.ts; ADR 0025). The lag is the consumer's, not the instance's:
 * every instance reports the same figures, so aggregate them with max, not sum.
 */
function renderConsumers(data: unknown, base: Labels, family: FamilyOf, sample: SampleOf): void {
  if (!isRecord(data) || !Array.isArray(data.consumers)) return;
  for (const c of data.consumers) {
    if (!isRecord(c) || typeof c.stream !== "string" || typeof c.consumer !== "string") continue;
    const labels = { ...base, stream: c.stream, consumer: c.consumer };
    for (const [key, name, type, help] of CONSUMER_SERIES) {
      const value = c[key];
      if (typeof value === "number") sample(family(name, type, help), name, labels, value);
    }
    const latency = histogramOf(c.latency);
    if (latency !== undefined) {
      histogram(
        family("troupe_consumer_handler_duration_seconds", "histogram", "Time a message handler ran."),
        "troupe_consumer_handler_duration_seconds",
        family(
          "troupe_consumer_handler_duration_quantile_seconds",
          "gauge",
          "p50/p95/p99 of troupe_consumer_handler_duration_seconds, estimated by the instance.",
        ),
        labels,
        latency,
        sample,
      );
    }
    if (isRecord(c.lag)) {
      for (const [key, name, help] of LAG_SERIES) {
        const value = c.lag[key];
        if (typeof value === "number") sample(family(name, "gauge", help), name, labels, value);
      }
    }
  }
}

const CONSUMER_SERIES: readonly (readonly [string, string, Family["type"], string])[] = [
  ["handled", "troupe_consumer_handled_total", "counter", "Messages whose handler succeeded (acknowledged)."],
  ["failed", "troupe_consumer_failed_total", "counter", "Handler failures given back for another attempt."],
  [
    "dead_lettered",
    "troupe_consumer_dead_lettered_total",
    "counter",
    "Messages published to the dead letters.",
  ],
  ["in_flight", "troupe_consumer_in_flight", "gauge", "Messages the instance holds: running or waiting."],
];

const LAG_SERIES: readonly (readonly [string, string, string])[] = [
  [
    "pending",
    "troupe_consumer_pending_messages",
    "Messages the consumer has not delivered yet (num_pending).",
  ],
  [
    "ack_pending",
    "troupe_consumer_ack_pending_messages",
    "Messages delivered and not acknowledged yet (num_ack_pending).",
  ],
];

/** Per-target counters of the policies' snapshot and their Prometheus series. */
const CLIENT_SERIES: readonly (readonly [string, string, Family["type"], string])[] = [
  ["inFlight", "troupe_client_in_flight", "gauge", "Outgoing calls in flight per target."],
  ["calls", "troupe_client_calls_total", "counter", "Outgoing calls per target (first attempts)."],
  ["failures", "troupe_client_failures_total", "counter", "Outgoing calls that failed after every attempt."],
  ["retries", "troupe_client_retries_total", "counter", "Retries sent per target."],
  ["hedges", "troupe_client_hedges_total", "counter", "Hedged attempts sent per target."],
  [
    "budgetExhausted",
    "troupe_client_retry_budget_exhausted_total",
    "counter",
    "Retries not sent: budget spent.",
  ],
  ["shortCircuited", "troupe_client_short_circuited_total", "counter", "Calls refused by an open circuit."],
  [
    "bulkheadRejected",
    "troupe_client_bulkhead_rejected_total",
    "counter",
    "Calls refused by a full bulkhead.",
  ],
];

/** The endpoint's `data` when it has the shape Troupe reports (endpoint-stats.ts metrics()). */
function endpointData(data: unknown): EndpointMetricsSnapshot | undefined {
  if (!isRecord(data) || !isRecord(data.requests_by_code) || !isRecord(data.latency)) return undefined;
  const latency = data.latency;
  if (typeof data.in_flight !== "number") return undefined;
  const requestsByCode: Record<string, number> = {};
  for (const [code, n] of Object.entries(data.requests_by_code))
    if (typeof n === "number") requestsByCode[code] = n;
  const histogram = histogramOf(latency);
  if (histogram === undefined) return undefined;
  return { requests_by_code: requestsByCode, in_flight: data.in_flight, latency: histogram };
}

/** A histogram as latency-histogram.ts snapshots it, when `value` has that shape. */
function histogramOf(value: unknown): LatencyHistogramSnapshot | undefined {
  if (!isRecord(value) || !Array.isArray(value.buckets)) return undefined;
  const buckets = value.buckets.filter(
    (b): b is [number | "+Inf", number] =>
      Array.isArray(b) && (typeof b[0] === "number" || b[0] === "+Inf") && typeof b[1] === "number",
  );
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  return {
    buckets,
    count: num(value.count),
    sum_seconds: num(value.sum_seconds),
    p50_seconds: num(value.p50_seconds),
    p95_seconds: num(value.p95_seconds),
    p99_seconds: num(value.p99_seconds),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `{a="x",b="y"}`, values escaped as the exposition format requires (\\, \", \n). */
function labelsOf(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([name, value]) => `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`,
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
