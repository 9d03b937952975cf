/**
 * Tracing as the environment asks for it, for actor and gateway processes: with
 * `TROUPE_OTLP_ENDPOINT` (or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`) set, an OpenTelemetry
 * SDK exporting over OTLP/HTTP with `service.name` = the process's name; unset, nothing is
 * installed and the API stays a no-op (docs/adr/0014-tracing-and-metrics.md).
 */
import { readEnv } from "../platform/env.ts";
import { installTracing, otlpTracesUrl, type TracingSdk } from "../platform/tracing-sdk.ts";

/** The installed SDK, undefined when tracing is off; throws when the exporter cannot be set up. */
export async function tracingFromEnv(serviceName: string): Promise<TracingSdk | undefined> {
  const endpoint = readEnv("TROUPE_OTLP_ENDPOINT") ?? readEnv("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (endpoint === undefined) return undefined;
  try {
    return await installTracing({ serviceName, exporter: otlpTracesUrl(endpoint) });
  } catch (err) {
    throw new Error(
      `cannot export traces to ${endpoint}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
