/**
 * The dashboard's traces: spans received over OTLP/HTTP in its JSON encoding (what Troupe's
 * exporter, `@opentelemetry/exporter-trace-otlp-http`, sends: hex ids, nanosecond timestamps as
 * decimal strings; https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding), grouped by
 * trace, the most recent `limit` traces kept in memory. Views are plain JSON, for the pages and
 * the `/api/traces` routes alike (docs/adr/0027-dashboard.md).
 */

/** An attribute's value, flattened: arrays and maps become their JSON text. */
export type AttributeValue = string | number | boolean;

export interface SpanView {
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** `server`, `client`, `producer`, `consumer`, `internal` or `unspecified`. */
  readonly kind: string;
  /** The resource's `service.name` ("" when the sender gave none). */
  readonly service: string;
  /** When it started, in milliseconds after the trace's first span started. */
  readonly offsetMs: number;
  readonly durationMs: number;
  /** How deep it sits under the trace's root (0 for a root, or a span whose parent is missing). */
  readonly depth: number;
  /** `unset`, `ok` or `error`. */
  readonly status: string;
  readonly statusMessage: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

export interface TraceSummary {
  readonly traceId: string;
  /** The name of the earliest span without a parent in the trace (the first span when none). */
  readonly rootName: string;
  readonly service: string;
  /** Every service with a span in the trace, in order of appearance in the waterfall. */
  readonly services: readonly string[];
  /** When the first span started (ISO 8601). */
  readonly start: string;
  readonly durationMs: number;
  readonly spanCount: number;
  readonly errorCount: number;
}

/** A trace with its spans in waterfall order: depth first, siblings by start. */
export interface TraceView extends TraceSummary {
  readonly spans: readonly SpanView[];
}

/** What one export request brought; `rejected` spans are reported back as a partial success. */
export interface ReceiveResult {
  readonly accepted: number;
  readonly rejected: number;
  /** Why the first rejected span was rejected ("" when none was). */
  readonly reason: string;
}

export interface TraceStore {
  /** Takes an OTLP `ExportTraceServiceRequest` in its JSON form; throws on a malformed one. */
  receive(request: unknown): ReceiveResult;
  /** The traces kept, the most recently started first. */
  list(): TraceSummary[];
  get(traceId: string): TraceView | undefined;
  /**
   * The trace a user means: a trace id, a `traceparent`/`traceresponse` value, or a gateway
   * request id (`x-request-id`, the gateway span's `troupe.request_id`).
   */
  find(query: string): string | undefined;
}

export interface TraceStoreOptions {
  /** How many traces are kept; the least recently updated goes first. */
  readonly maxTraces: number;
  /** How many spans one trace keeps; later ones are rejected. */
  readonly maxSpansPerTrace: number;
}

export const defaultTraceStoreOptions: TraceStoreOptions = { maxTraces: 200, maxSpansPerTrace: 2_000 };

interface StoredSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: string;
  readonly service: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly status: string;
  readonly statusMessage: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
/** `traceparent` / `traceresponse`: version-traceid-spanid-flags (W3C Trace Context). */
const TRACE_HEADER = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** OTLP's enums by number (proto3 JSON also allows their names). */
const KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];
const STATUSES = ["unset", "ok", "error"];
/** The attribute the gateway's span carries its request id in (runtime/gateway/create-gateway.ts). */
const REQUEST_ID_ATTRIBUTE = "troupe.request_id";

export function createTraceStore(partial: Partial<TraceStoreOptions> = {}): TraceStore {
  const options: TraceStoreOptions = { ...defaultTraceStoreOptions, ...partial };
  /** By trace id, in order of last update (a Map keeps insertion order). */
  const traces = new Map<string, Map<string, StoredSpan>>();

  const keep = (span: StoredSpan): string => {
    const spans = traces.get(span.traceId) ?? new Map<string, StoredSpan>();
    if (!spans.has(span.spanId) && spans.size >= options.maxSpansPerTrace)
      return `trace ${span.traceId} has ${options.maxSpansPerTrace} spans already`;
    spans.set(span.spanId, span);
    traces.delete(span.traceId);
    traces.set(span.traceId, spans);
    for (const oldest of traces.keys()) {
      if (traces.size <= options.maxTraces) break;
      traces.delete(oldest);
    }
    return "";
  };

  return {
    receive(request) {
      let accepted = 0;
      let rejected = 0;
      let reason = "";
      for (const resourceSpans of arrayAt(request, "resourceSpans")) {
        const resource = attributesOf(arrayAt(objectAt(resourceSpans, "resource"), "attributes"));
        const service = String(resource["service.name"] ?? "");
        for (const scopeSpans of arrayAt(resourceSpans, "scopeSpans")) {
          for (const raw of arrayAt(scopeSpans, "spans")) {
            const span = spanOf(raw, service);
            const why = typeof span === "string" ? span : keep(span);
            if (why === "") accepted++;
            else {
              rejected++;
              if (reason === "") reason = why;
            }
          }
        }
      }
      return { accepted, rejected, reason };
    },
    list() {
      return [...traces.values()]
        .map((spans) => summaryOf([...spans.values()]))
        .sort((a, b) => b.start.localeCompare(a.start));
    },
    get(traceId) {
      const spans = traces.get(traceId.toLowerCase());
      return spans === undefined ? undefined : viewOf([...spans.values()]);
    },
    find(query) {
      const q = query.trim();
      const id = q.toLowerCase();
      if (TRACE_ID.test(id)) return traces.has(id) ? id : undefined;
      const header = TRACE_HEADER.exec(id);
      if (header?.[1] !== undefined) return traces.has(header[1]) ? header[1] : undefined;
      for (const [traceId, spans] of traces) {
        for (const span of spans.values()) if (span.attributes[REQUEST_ID_ATTRIBUTE] === q) return traceId;
      }
      return undefined;
    },
  };
}

/** One OTLP span, or why it cannot be kept. */
function spanOf(raw: unknown, service: string): StoredSpan | string {
  if (typeof raw !== "object" || raw === null) return "a span is not an object";
  const s = raw as Record<string, unknown>;
  const traceId = typeof s.traceId === "string" ? s.traceId.toLowerCase() : "";
  const spanId = typeof s.spanId === "string" ? s.spanId.toLowerCase() : "";
  const parentSpanId = typeof s.parentSpanId === "string" ? s.parentSpanId.toLowerCase() : "";
  if (!TRACE_ID.test(traceId) || traceId === "0".repeat(32))
    return `traceId ${JSON.stringify(s.traceId)} is not 32 hex digits (the JSON encoding's ids are hex)`;
  if (!SPAN_ID.test(spanId)) return `spanId ${JSON.stringify(s.spanId)} is not 16 hex digits`;
  if (parentSpanId !== "" && !SPAN_ID.test(parentSpanId))
    return `parentSpanId ${JSON.stringify(s.parentSpanId)} is not 16 hex digits`;
  const startMs = nanosToMs(s.startTimeUnixNano);
  const endMs = nanosToMs(s.endTimeUnixNano);
  if (startMs === undefined || endMs === undefined || endMs < startMs)
    return `span ${spanId} has no valid startTimeUnixNano and endTimeUnixNano`;
  const status = objectAt(s, "status");
  return {
    traceId,
    spanId,
    parentSpanId: parentSpanId === "0".repeat(16) ? "" : parentSpanId,
    name: typeof s.name === "string" ? s.name : "",
    kind: enumOf(s.kind, KINDS, "SPAN_KIND_"),
    service,
    startMs,
    endMs,
    status: enumOf(status?.code, STATUSES, "STATUS_CODE_"),
    statusMessage: typeof status?.message === "string" ? status.message : "",
    attributes: attributesOf(arrayAt(s, "attributes")),
  };
}

/** Nanoseconds since the epoch (a decimal string or a number) in milliseconds. */
function nanosToMs(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value / 1e6;
  if (typeof value !== "string" || !/^\d{1,20}$/.test(value)) return undefined;
  const nanos = BigInt(value);
  return Number(nanos / 1_000n) / 1_000;
}

function enumOf(value: unknown, names: readonly string[], prefix: string): string {
  if (typeof value === "number") return names[value] ?? String(value);
  if (typeof value === "string" && value.startsWith(prefix)) return value.slice(prefix.length).toLowerCase();
  return names[0] ?? "";
}

function attributesOf(list: readonly unknown[]): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const entry of list) {
    if (typeof entry !== "object" || entry === null) continue;
    const { key, value } = entry as { key?: unknown; value?: unknown };
    if (typeof key === "string") attributes[key] = anyValueOf(value);
  }
  return attributes;
}

/** An OTLP `AnyValue` (`{ stringValue: "…" }`, `{ intValue: "3" }`, …) as a plain value. */
function anyValueOf(value: unknown): AttributeValue {
  if (typeof value !== "object" || value === null) return "";
  const v = value as Record<string, unknown>;
  if (typeof v.stringValue === "string") return v.stringValue;
  if (typeof v.boolValue === "boolean") return v.boolValue;
  if (typeof v.doubleValue === "number") return v.doubleValue;
  if (typeof v.intValue === "number") return v.intValue;
  if (typeof v.intValue === "string" && /^-?\d+$/.test(v.intValue)) return Number(v.intValue);
  if (typeof v.bytesValue === "string") return v.bytesValue;
  if ("arrayValue" in v) return JSON.stringify(arrayAt(v.arrayValue, "values").map(anyValueOf));
  if ("kvlistValue" in v) return JSON.stringify(attributesOf(arrayAt(v.kvlistValue, "values")));
  return "";
}

function objectAt(value: unknown, key: string): Record<string, unknown> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const inner = (value as Record<string, unknown>)[key];
  return typeof inner === "object" && inner !== null ? (inner as Record<string, unknown>) : undefined;
}

/** The array at `key`, [] when absent; anything else there is a malformed request. */
function arrayAt(value: unknown, key: string): readonly unknown[] {
  if (typeof value !== "object" || value === null) throw new Error(`expected an object with "${key}"`);
  const inner = (value as Record<string, unknown>)[key];
  if (inner === undefined || inner === null) return [];
  if (!Array.isArray(inner)) throw new Error(`"${key}" is not an array`);
  return inner;
}

function summaryOf(spans: readonly StoredSpan[]): TraceSummary {
  return viewOf(spans, false);
}

function viewOf(spans: readonly StoredSpan[]): TraceView;
function viewOf(spans: readonly StoredSpan[], withSpans: false): TraceSummary;
function viewOf(spans: readonly StoredSpan[], withSpans = true): TraceView | TraceSummary {
  const ids = new Set(spans.map((s) => s.spanId));
  const byStart = [...spans].sort((a, b) => a.startMs - b.startMs);
  const children = new Map<string, StoredSpan[]>();
  const roots: StoredSpan[] = [];
  for (const span of byStart) {
    if (span.parentSpanId === "" || !ids.has(span.parentSpanId)) roots.push(span);
    else children.set(span.parentSpanId, [...(children.get(span.parentSpanId) ?? []), span]);
  }
  const root = roots.find((s) => s.parentSpanId === "") ?? roots[0] ?? byStart[0];
  const startMs = byStart[0]?.startMs ?? 0;
  const endMs = Math.max(...spans.map((s) => s.endMs));
  const ordered: SpanView[] = [];
  const visit = (span: StoredSpan, depth: number) => {
    ordered.push({
      spanId: span.spanId,
      parentSpanId: span.parentSpanId,
      name: span.name,
      kind: span.kind,
      service: span.service,
      offsetMs: span.startMs - startMs,
      durationMs: span.endMs - span.startMs,
      depth,
      status: span.status,
      statusMessage: span.statusMessage,
      attributes: span.attributes,
    });
    for (const child of children.get(span.spanId) ?? []) visit(child, depth + 1);
  };
  for (const r of roots) visit(r, 0);
  const summary: TraceSummary = {
    traceId: root?.traceId ?? "",
    rootName: root?.name ?? "",
    service: root?.service ?? "",
    services: [...new Set(ordered.map((s) => s.service))],
    start: new Date(startMs).toISOString(),
    durationMs: endMs - startMs,
    spanCount: spans.length,
    errorCount: spans.filter((s) => s.status === "error").length,
  };
  return withSpans ? { ...summary, spans: ordered } : summary;
}
