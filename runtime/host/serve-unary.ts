/**
 * The server side of a unary call, the hot path: decode, invoke, encode, respond. No per-call
 * timer (deadlines share one queue), no Headers unless a handler touches them, no promise
 * unless the implementation returns one. Configured interceptors still run, through Connect's
 * own invokeUnaryImplementation.
 */
import { create, isMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type MethodImplSpec } from "@connectrpc/connect";
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import { headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import type { EndpointStatsRecorder } from "../discovery/endpoint-stats.ts";
import { errorFields } from "../observability/logger.ts";
import { type Codec, contentTypeOf, decodeMessage, encodeMessage } from "../protocol/codec.ts";
import { toConnectError } from "../protocol/errors.ts";
import { Header, TRAILER_PREFIX } from "../protocol/headers.ts";
import { appendMetadata, hasEntries } from "../protocol/metadata.ts";
import { createDeadlineQueue, type DeadlineEntry } from "../resilience/deadline-queue.ts";
import { isPayloadTooLarge, payloadTooLarge, replyError } from "./reply.ts";
import type { ServeOptions } from "./serve-services.ts";
import { UnaryContext } from "./unary-context.ts";

type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;

/** Something the host can abort while it is in flight (deadline, drain). */
export interface LiveCall {
  abort(reason?: unknown): void;
}

const deadlines = createDeadlineQueue<LiveUnary>((call) =>
  call.abort(new ConnectError("the deadline expired before the handler answered", Code.DeadlineExceeded)),
);

interface LiveUnary extends LiveCall, DeadlineEntry {}

export function serveUnary(
  nc: NatsConnection,
  msg: Msg,
  spec: UnarySpec,
  stats: EndpointStatsRecorder,
  codec: Codec,
  timeoutMs: number | undefined,
  options: ServeOptions,
  live: Set<LiveCall>,
  finished: () => void,
): void {
  const started = performance.now();
  const method = spec.method;
  let input: ReturnType<typeof decodeMessage>;
  try {
    input = decodeMessage(method.input, codec, msg.data, options.codecOptions);
  } catch (err) {
    const error = toConnectError(err);
    stats.record((performance.now() - started) * 1e6, error.message);
    replyError(msg, error);
    finished();
    return;
  }

  const context = new UnaryContext(
    method,
    msg.subject,
    msg.headers,
    timeoutMs === undefined ? undefined : started + timeoutMs,
  );
  let settled = false;

  const end = (error: ConnectError | undefined) => {
    settled = true;
    deadlines.cancel(call);
    live.delete(call);
    stats.record((performance.now() - started) * 1e6, error?.message);
    finished();
  };

  const fail = (err: unknown) => {
    if (settled) return;
    const error = toConnectError(err);
    if (error.code === Code.Internal && !(err instanceof ConnectError)) {
      options.logger.log("error", "handler failed", {
        method: `${method.parent.typeName}/${method.name}`,
        ...errorFields(err),
      });
    }
    replyError(msg, error);
    end(error);
  };

  const succeed = (output: unknown) => {
    if (settled) return;
    let bytes: Uint8Array;
    try {
      const message = isMessage(output, method.output) ? output : create(method.output, output as never);
      bytes = encodeMessage(method.output, codec, message, options.codecOptions);
    } catch (err) {
      fail(err);
      return;
    }
    const replyHeaders = responseHeaders(context, codec);
    try {
      msg.respond(bytes, replyHeaders === undefined ? undefined : { headers: replyHeaders });
    } catch (err) {
      if (isPayloadTooLarge(err)) {
        fail(payloadTooLarge(`the reply of ${method.parent.typeName}/${method.name}`, bytes.length, nc));
      } else {
        end(toConnectError(err)); // the connection is closing: nobody can be told
      }
      return;
    }
    end(undefined);
  };

  const call: LiveUnary = {
    deadline: context.deadline ?? Number.POSITIVE_INFINITY,
    index: -1,
    abort(reason) {
      context.abort(reason);
      fail(reason);
    },
  };
  live.add(call);
  if (context.deadline !== undefined) deadlines.schedule(call);

  let result: unknown;
  try {
    result =
      options.interceptors.length === 0
        ? spec.impl(input, context)
        : invokeUnaryImplementation(spec, context.materialize(), input, options.interceptors);
  } catch (err) {
    fail(err);
    return;
  }
  if (result instanceof Promise) result.then(succeed, fail);
  else succeed(result);
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
