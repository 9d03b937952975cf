/**
 * The server side of a unary call, the hot path: decode, check the contract's rules (only for an
 * input that declares any, request-validator.ts), invoke, encode, respond. A call is one
 * object (no closures unless the implementation returns a promise); the host's calls in flight
 * are kept in one deadline queue, which is also what a drain aborts, so there is no per-call
 * timer and no separate registry. No Headers unless a handler touches them. Configured
 * interceptors still run, through Connect's own invokeUnaryImplementation.
 */
import { create, isMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type MethodImplSpec } from "@connectrpc/connect";
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import { headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import type { Span } from "@opentelemetry/api";
import { createDeadlineQueue, type DeadlineEntry, type DeadlineQueue } from "../nats/deadline-queue.ts";
import type { EndpointStatsRecorder } from "../observability/endpoint-stats.ts";
import { errorFields } from "../observability/logger.ts";
import { endSpan, runInSpan, startServerSpan } from "../observability/tracing.ts";
import { type Codec, contentTypeOf, decodeMessage, encodeMessage } from "../protocol/codec.ts";
import { isPayloadTooLarge, toConnectError } from "../protocol/errors.ts";
import { Header, TRAILER_PREFIX } from "../protocol/headers.ts";
import { appendMetadata, hasEntries } from "../protocol/metadata.ts";
import { payloadTooLarge, replyError } from "./reply.ts";
import type { RequestCheck } from "./request-validator.ts";
import type { ServeOptions } from "./serve-services.ts";
import { UnaryContext } from "./unary-context.ts";

type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;

/** Something the host can abort while it is in flight (deadline, drain). */
export interface LiveCall {
  abort(reason?: unknown): void;
}

/** A host's unary calls in flight, ordered by deadline; an expired one is aborted. */
export type UnaryCalls = DeadlineQueue<UnaryServerCall>;

export function createUnaryCalls(): UnaryCalls {
  return createDeadlineQueue<UnaryServerCall>((call) =>
    call.abort(new ConnectError("the deadline expired before the handler answered", Code.DeadlineExceeded)),
  );
}

/** What serveUnary needs from its host. */
export interface UnaryHost {
  readonly nc: NatsConnection;
  readonly options: ServeOptions;
  readonly calls: UnaryCalls;
  /** Called once per call when it is over. */
  finished(): void;
}

export function serveUnary(
  host: UnaryHost,
  msg: Msg,
  spec: UnarySpec,
  stats: EndpointStatsRecorder,
  codec: Codec,
  timeoutMs: number | undefined,
  check: RequestCheck | undefined,
): void {
  const started = performance.now();
  let input: ReturnType<typeof decodeMessage>;
  try {
    input = decodeMessage(spec.method.input, codec, msg.data, host.options.codecOptions);
    check?.(input);
  } catch (err) {
    const error = toConnectError(err);
    if (!(err instanceof ConnectError)) {
      host.options.logger.log("error", "request validation failed", errorFields(err));
    }
    stats.record((performance.now() - started) * 1e6, error);
    replyError(msg, error);
    host.finished();
    return;
  }
  new UnaryServerCall(host, msg, spec, stats, codec, started, timeoutMs).run(input);
}

class UnaryServerCall implements LiveCall, DeadlineEntry {
  readonly deadline: number;
  index = -1;
  private settled = false;
  private span: Span | undefined;
  private readonly context: UnaryContext;
  private readonly host: UnaryHost;
  private readonly msg: Msg;
  private readonly spec: UnarySpec;
  private readonly stats: EndpointStatsRecorder;
  private readonly codec: Codec;
  private readonly started: number;

  constructor(
    host: UnaryHost,
    msg: Msg,
    spec: UnarySpec,
    stats: EndpointStatsRecorder,
    codec: Codec,
    started: number,
    timeoutMs: number | undefined,
  ) {
    this.host = host;
    this.msg = msg;
    this.spec = spec;
    this.stats = stats;
    this.codec = codec;
    this.started = started;
    this.deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : started + timeoutMs;
    this.context = new UnaryContext(
      spec.method,
      msg.subject,
      msg,
      timeoutMs === undefined ? undefined : this.deadline,
    );
  }

  run(input: unknown): void {
    this.host.calls.schedule(this);
    // Undefined unless an OpenTelemetry SDK is installed (observability/tracing.ts).
    this.span = startServerSpan(this.spec.method, this.msg);
    if (this.span === undefined) this.invoke(input);
    else runInSpan(this.span, () => this.invoke(input));
  }

  private invoke(input: unknown): void {
    const { spec, context } = this;
    const interceptors = this.host.options.interceptors;
    let result: unknown;
    try {
      result =
        interceptors.length === 0
          ? spec.impl(input as never, context)
          : invokeUnaryImplementation(spec, context.materialize(), input as never, interceptors);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (output) => this.succeed(output),
        (err) => this.fail(err),
      );
    } else {
      this.succeed(result);
    }
  }

  abort(reason?: unknown): void {
    this.context.abort(reason);
    this.fail(reason);
  }

  private succeed(output: unknown): void {
    if (this.settled) return;
    const method = this.spec.method;
    let bytes: Uint8Array;
    try {
      const message = isMessage(output, method.output) ? output : create(method.output, output as never);
      bytes = encodeMessage(method.output, this.codec, message, this.host.options.codecOptions);
    } catch (err) {
      this.fail(err);
      return;
    }
    const replyHeaders = responseHeaders(this.context, this.codec);
    try {
      this.msg.respond(bytes, replyHeaders === undefined ? undefined : { headers: replyHeaders });
    } catch (err) {
      if (isPayloadTooLarge(err)) {
        const what = `the reply of ${method.parent.typeName}/${method.name}`;
        this.fail(payloadTooLarge(what, bytes.length, this.host.nc));
      } else {
        this.end(toConnectError(err)); // the connection is closing: nobody can be told
      }
      return;
    }
    this.end(undefined);
  }

  private fail(err: unknown): void {
    if (this.settled) return;
    const error = toConnectError(err);
    if (error.code === Code.Internal && !(err instanceof ConnectError)) {
      const method = this.spec.method;
      this.host.options.logger.log("error", "handler failed", {
        method: `${method.parent.typeName}/${method.name}`,
        ...errorFields(err),
      });
    }
    replyError(this.msg, error);
    this.end(error);
  }

  private end(error: ConnectError | undefined): void {
    this.settled = true;
    this.host.calls.cancel(this);
    this.stats.record((performance.now() - this.started) * 1e6, error);
    if (this.span !== undefined) endSpan(this.span, error);
    this.host.finished();
  }
}

/** NATS headers for a successful reply, or undefined when there is nothing to say. */
function responseHeaders(context: UnaryContext, codec: Codec): MsgHdrs | undefined {
  const header = context._responseHeader;
  const trailer = context._responseTrailer;
  const hasHeader = header !== undefined && hasEntries(header);
  const hasTrailer = trailer !== undefined && hasEntries(trailer);
  if (!hasHeader && !hasTrailer && codec === "proto") return undefined;
  const hdrs = headers();
  if (codec === "json") hdrs.set(Header.contentType, contentTypeOf("json"));
  if (hasHeader) appendMetadata(hdrs, header);
  if (hasTrailer) appendMetadata(hdrs, trailer, TRAILER_PREFIX);
  return hdrs;
}
