/**
 * Spans and W3C trace context (https://www.w3.org/TR/trace-context/) for every hop Troupe makes:
 * a client span per RPC call, a server span per handled call, a producer span per published
 * event or job, a consumer span per delivery. Trace context travels in NATS headers
 * (`traceparent`, `tracestate`), written and read by the global OpenTelemetry propagator.
 * See docs/adr/0014-tracing-and-metrics.md.
 *
 * Only the OpenTelemetry API is used here: it is a no-op until someone installs an SDK (see
 * runtime/platform/tracing-sdk.ts, or the user's own). Every entry point first asks
 * `activeTracer()`, which is a global lookup and one comparison when no SDK is installed; it
 * then returns undefined and the hot paths allocate nothing (no span, no header carrier, no
 * closure). Attribute names follow the OpenTelemetry semantic conventions for RPC
 * (https://opentelemetry.io/docs/specs/semconv/rpc/connect-rpc/) and messaging
 * (https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/).
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Msg, MsgHdrs } from "@nats-io/nats-core";
import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { EVENT_PREFIX, JOB_PREFIX } from "../protocol/subjects.ts";
import { TROUPE_VERSION } from "../version.ts";

/** The instrumentation scope of Troupe's spans. */
export const TRACER_NAME = "troupe";

/** What the API delegates to before an SDK is registered: its no-op provider. */
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate();
let tracerOf: TracerProvider | undefined;
let tracer: Tracer | undefined;

/**
 * The tracer of the installed SDK, or undefined when none is installed (the API's default).
 * Asked on every call, so an SDK installed (or removed) after start is seen at once.
 */
export function activeTracer(): Tracer | undefined {
  const global = trace.getTracerProvider();
  const provider = global instanceof ProxyTracerProvider ? global.getDelegate() : global;
  if (provider === NOOP_PROVIDER) return undefined;
  if (provider !== tracerOf) {
    tracerOf = provider;
    tracer = provider.getTracer(TRACER_NAME, TROUPE_VERSION);
  }
  return tracer;
}

/** Reads trace context from NATS headers (case-insensitively, as people type them). */
const natsGetter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => {
    if (!carrier.has(key)) return undefined;
    const value = carrier.get(key);
    return value === "" ? undefined : value;
  },
};

/** Writes trace context into NATS headers, replacing what metadata may have carried. */
const natsSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** Writes trace context into fetch `Headers` (a stream's opener, an HTTP request). */
const headersSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};
const headersGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

function rpcAttributes(method: DescMethod, subject: string): Attributes {
  return {
    "rpc.system": "connect_rpc",
    "rpc.service": method.parent.typeName,
    "rpc.method": method.name,
    "messaging.system": "nats",
    "messaging.destination.name": subject,
  };
}

/** `shop.v1.OrderService/PlaceOrder`: the span name the RPC conventions ask for. */
function rpcSpanName(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}

/**
 * Starts the client span of an RPC call as a child of the active span; the caller writes it into
 * the request with injectTraceContext(). Undefined when no SDK is installed.
 */
export function startClientSpan(method: DescMethod, subject: string): Span | undefined {
  const t = activeTracer();
  if (t === undefined) return undefined;
  return t.startSpan(
    rpcSpanName(method),
    { kind: SpanKind.CLIENT, attributes: rpcAttributes(method, subject) },
    context.active(),
  );
}

/** Writes `span`'s context into NATS headers (and returns them). */
export function injectTraceContext(hdrs: MsgHdrs, span: Span): MsgHdrs {
  propagation.inject(trace.setSpan(context.active(), span), hdrs, natsSetter);
  return hdrs;
}

/**
 * Writes the active span's context into request metadata, for carriers whose protocol headers
 * are built elsewhere (a stream's opener). Does nothing without an SDK.
 */
export function injectActiveContext(header: Headers): void {
  if (activeTracer() === undefined) return;
  propagation.inject(context.active(), header, headersSetter);
}

/**
 * Starts the server span of a handled call, whose parent is the caller's span from the request's
 * headers (a root span when they carry none). Undefined when no SDK is installed.
 */
export function startServerSpan(method: DescMethod, msg: Msg): Span | undefined {
  const t = activeTracer();
  if (t === undefined) return undefined;
  // Read only here: nats.js decodes a message's headers on first read (protocol/raw-headers.ts).
  const hdrs = msg.headers;
  const parent = hdrs === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, hdrs, natsGetter);
  return t.startSpan(
    rpcSpanName(method),
    { kind: SpanKind.SERVER, attributes: rpcAttributes(method, msg.subject) },
    parent,
  );
}

/**
 * Runs `fn` with `span` active, so that calls, publishes and log lines inside it are its
 * children. The context the span was started in is not needed: the span carries its trace.
 */
export function runInSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(ROOT_CONTEXT, span), fn);
}

/** Ends `span`, with an error status (and the Connect code as an attribute) when `error` is set. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const connectError = ConnectError.from(error);
    span.setAttribute("rpc.connect_rpc.error_code", codeToString(connectError.code));
    span.setStatus({ code: SpanStatusCode.ERROR, message: connectError.rawMessage });
  }
  span.end();
}

/** Ends `span` when `promise` settles; the promise's outcome is passed on unchanged. */
export function endSpanWith<T>(span: Span, promise: Promise<T>): Promise<T> {
  return promise.then(
    (value) => {
      endSpan(span);
      return value;
    },
    (err: unknown) => {
      endSpan(span, err);
      throw err;
    },
  );
}

/**
 * The message type in an event or job subject, for span names (the key would make every name
 * unique): `evt.shop.v1.OrderPlaced.o-1` → `shop.v1.OrderPlaced`, `job.shop.v1.SendEmail` →
 * `shop.v1.SendEmail`, namespace or not.
 */
function messageTypeOf(subject: string): string {
  const tokens = subject.split(".");
  const at = tokens.findIndex((t) => t === EVENT_PREFIX || t === JOB_PREFIX);
  if (at === -1) return subject;
  return tokens.slice(at + 1, tokens[at] === EVENT_PREFIX ? -1 : undefined).join(".");
}

/**
 * Runs a publish (`send`) under a producer span whose context goes out in `hdrs`, so the
 * consumers' spans are its children. Without an SDK this is `send()` and nothing else.
 */
export function tracePublish<T>(
  subject: string,
  messageId: string,
  hdrs: MsgHdrs,
  send: () => Promise<T>,
): Promise<T> {
  const t = activeTracer();
  if (t === undefined) return send();
  const span = t.startSpan(
    `publish ${messageTypeOf(subject)}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.destination.name": subject,
        "messaging.message.id": messageId,
      },
    },
    context.active(),
  );
  injectTraceContext(hdrs, span);
  return endSpanWith(span, send());
}

/** What a consumer span describes: one delivery of one message to one durable consumer. */
export interface DeliveryTrace {
  readonly subject: string;
  readonly consumer: string;
  readonly messageId: string;
  readonly deliveryCount: number;
}

/**
 * Runs a message handler under a consumer span whose parent is the publisher's span (from the
 * message's headers), so an event is one trace from the publishing call to every handler.
 * Without an SDK this is `handle()` and nothing else.
 */
export function traceDelivery<T>(
  hdrs: MsgHdrs | undefined,
  delivery: DeliveryTrace,
  handle: () => Promise<T> | T,
): Promise<T> | T {
  const t = activeTracer();
  if (t === undefined) return handle();
  const parent: Context =
    hdrs === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, hdrs, natsGetter);
  const span = t.startSpan(
    `process ${messageTypeOf(delivery.subject)}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": delivery.subject,
        "messaging.consumer.group.name": delivery.consumer,
        "messaging.message.id": delivery.messageId,
        "messaging.message.delivery_count": delivery.deliveryCount,
      },
    },
    parent,
  );
  let result: Promise<T> | T;
  try {
    result = runInSpan(span, handle);
  } catch (err) {
    endSpan(span, err);
    throw err;
  }
  if (result instanceof Promise) return endSpanWith(span, result);
  endSpan(span);
  return result;
}

/**
 * Runs `fn` under a server span whose parent comes from HTTP request headers: for an edge such
 * as the gateway, whose calls to actors then continue the caller's trace.
 */
export function traceHttpRequest<T>(
  requestHeaders: Headers,
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  const t = activeTracer();
  if (t === undefined) return fn();
  const parent = propagation.extract(ROOT_CONTEXT, requestHeaders, headersGetter);
  const span = t.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  return endSpanWith(span, runInSpan(span, fn));
}

/**
 * The active span as a `traceresponse` value (`00-<trace id>-<span id>-<flags>`, W3C Trace
 * Context Level 2), for an edge to tell its caller which trace its request made; undefined
 * outside a recorded span.
 */
export function traceResponseOfActiveSpan(): string | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const ids = span.spanContext();
  if (!isSpanContextValid(ids)) return undefined;
  return `00-${ids.traceId}-${ids.spanId}-${ids.traceFlags.toString(16).padStart(2, "0")}`;
}

/** The active span's trace and span ids, for log lines; undefined outside a recorded span. */
export function activeSpanIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const ids = span.spanContext();
  return isSpanContextValid(ids) ? { trace_id: ids.traceId, span_id: ids.spanId } : undefined;
}
