/**
 * Tracing as the environment asks for it, for actor and gateway processes: with
 * `TROUPE_OTLP_ENDPOINT` (or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`) set, an OpenTelemetry
 * SDK exporting over OTLP/HTTP with `service.name` = the process's name; unset, nothing is
 * installed and the API stays a no-op (docs/adr/0014-tracing-and-metrics.md).
 */
import { readEnv } from "../platform/env.ts";
import { installTracing, otlpTracesUrl, type TracingSdk } from "../platform/tracing-sdk.ts";

/** Troupe's own variable for the OTLP/HTTP collector (its base URL or its `/v1/traces` URL). */
export const TROUPE_OTLP_ENV = "TROUPE_OTLP_ENDPOINT";
/** The standard one, read when Troupe's is unset. */
export const OTEL_OTLP_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT";
/** The standard delay between two exports of the batch processor, in milliseconds (5000 unset). */
export const OTEL_BSP_DELAY_ENV = "OTEL_BSP_SCHEDULE_DELAY";

/** The installed SDK, undefined when tracing is off; throws when the exporter cannot be set up. */
export async function tracingFromEnv(serviceName: string): Promise<TracingSdk | undefined> {
  const endpoint = readEnv(TROUPE_OTLP_ENV) ?? readEnv(OTEL_OTLP_ENV);
  if (endpoint === undefined) return undefined;
  const delay = readEnv(OTEL_BSP_DELAY_ENV);
  if (delay !== undefined && !/^\d+$/.test(delay))
    throw new Error(`${OTEL_BSP_DELAY_ENV} must be a number of milliseconds, not "${delay}"`);
  try {
    return await installTracing({
      serviceName,
      exporter: otlpTracesUrl(endpoint),
      ...(delay === undefined ? {} : { exportDelayMs: Number(delay) }),
    });
  } catch (err) {
    throw new Error(
      `cannot export traces to ${endpoint}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
