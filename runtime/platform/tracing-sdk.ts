/**
 * Installs an OpenTelemetry SDK as the global tracer provider, so that the spans Troupe starts
 * through the API (runtime/observability/tracing.ts) are recorded and exported. Without this (or
 * the user's own SDK) tracing is the API's no-op and costs nothing.
 *
 * It lives under platform/ because the context manager keeps the active span across `await`
 * with `node:async_hooks`' AsyncLocalStorage (Bun, Deno and Node all provide it). The SDK
 * packages are imported only when tracing is installed, so actors that do not trace never load
 * them. `runActor` calls it when TROUPE_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set; a
 * test passes an InMemorySpanExporter. See docs/adr/0014-tracing-and-metrics.md.
 */
import { context, propagation, trace } from "@opentelemetry/api";
import type { SpanExporter } from "@opentelemetry/sdk-trace";

export interface TracingSdkOptions {
  /** `service.name` of every span (the actor's name). */
  readonly serviceName: string;
  /**
   * Where spans go: an exporter (tests use InMemorySpanExporter), or the URL of an OTLP/HTTP
   * traces endpoint (`http://collector:4318/v1/traces`).
   */
  readonly exporter: SpanExporter | string;
  /**
   * "batch" (default) exports in the background, in batches; "simple" exports each span as it
   * ends (tests, to read spans without a flush).
   */
  readonly processor: "batch" | "simple";
  /** The batch processor's delay between two exports (`troupe dev` shortens it to half a second). */
  readonly exportDelayMs: number;
}

export const defaultTracingSdkOptions: Omit<TracingSdkOptions, "serviceName" | "exporter"> = {
  processor: "batch",
  exportDelayMs: 5_000,
};

export interface TracingSdk {
  /** Exports the spans still buffered. */
  flush(): Promise<void>;
  /** Flushes, then removes the SDK: the API is a no-op again. */
  shutdown(): Promise<void>;
}

/** The conventional path of the OTLP/HTTP traces endpoint under a collector's base URL. */
export function otlpTracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, "");
  return base.endsWith("/v1/traces") ? base : `${base}/v1/traces`;
}

export async function installTracing(
  partial: Partial<TracingSdkOptions> & Pick<TracingSdkOptions, "serviceName" | "exporter">,
): Promise<TracingSdk> {
  const options: TracingSdkOptions = { ...defaultTracingSdkOptions, ...partial };
  const [sdk, core, resources, hooks] = await Promise.all([
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/context-async-hooks"),
  ]);
  const exporter =
    typeof options.exporter === "string"
      ? new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter({
          url: options.exporter,
        })
      : options.exporter;
  const processor =
    options.processor === "simple"
      ? new sdk.SimpleSpanProcessor({ exporter })
      : new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: options.exportDelayMs });
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: [processor],
  });
  const contextManager = new hooks.AsyncLocalStorageContextManager().enable();
  // The API refuses a second registration: an SDK installed earlier (by the user) stays.
  if (!context.setGlobalContextManager(contextManager)) contextManager.disable();
  propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  const registered = trace.setGlobalTracerProvider(provider);
  if (!registered) {
    await provider.shutdown();
    throw new Error("installTracing: a tracer provider is already registered with the OpenTelemetry API");
  }
  return {
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
