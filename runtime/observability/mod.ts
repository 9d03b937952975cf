/**
 * `troupe/observability`: tracing through the OpenTelemetry API, an OTLP exporter, and the
 * metrics every endpoint records in its `$SRV.STATS` data (docs/adr/0014-tracing-and-metrics.md).
 * The logger is in the root export; the Prometheus rendering of the metrics is troupe/gateway's.
 */

export {
  defaultTracingSdkOptions,
  installTracing,
  otlpTracesUrl,
  type TracingSdk,
  type TracingSdkOptions,
} from "../platform/tracing-sdk.ts";
export type { EndpointMetricsSnapshot } from "./endpoint-stats.ts";
export { LATENCY_BUCKETS_SECONDS, type LatencyHistogramSnapshot } from "./latency-histogram.ts";
export { activeSpanIds, TRACER_NAME, traceHttpRequest } from "./tracing.ts";
