/**
 * A Connect `Transport` over NATS: `createClient(UserService, createNatsTransport({ nc }))`.
 * Unary calls are one NATS request/reply through the connection's reply multiplexer
 * (reply-mux.ts); streaming calls are pinned to one actor instance through per-call inboxes
 * (nats-stream.ts). Interceptors run through Connect's own runUnaryCall/runStreamingCall;
 * without interceptors, unary calls skip that machinery (its per-call timer, abort controller
 * and headers). Where a call goes (any instance, one instance, one version, a weighted split)
 * is call-router.ts's decision; resilience policies (runtime/resilience/call-policies.ts) plug in
 * below the interceptors, around each attempt, without that machinery. See
 * docs/adr/0004-rpc-over-nats.md, docs/adr/0011-resilience-policies.md and
 * docs/adr/0012-discovery-direct-calls-and-traffic.md.
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import { headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import { PartitionMovedSchema } from "../gen/troupe/v1/keyed_pb.ts";
import { isNoRespondersError, type ReplyCall, type ReplyMux, replyMuxOf } from "../nats/reply-mux.ts";
import {
  endSpanWith,
  injectActiveContext,
  injectTraceContext,
  startClientSpan,
} from "../observability/tracing.ts";
import {
  type Codec,
  type CodecOptions,
  contentTypeOf,
  defaultCodecOptions,
  encodeMessage,
} from "../protocol/codec.ts";
import { isPayloadTooLarge } from "../protocol/errors.ts";
import { Header } from "../protocol/headers.ts";
import { appendMetadata } from "../protocol/metadata.ts";
import { keyedContractOf } from "../protocol/partitions.ts";
import type { RouteTable } from "../protocol/route-record.ts";
import { rpcMethodSubject } from "../protocol/subjects.ts";
import type { CallPolicy } from "../resilience/call-policies.ts";
import { type CallTarget, createCallRouter } from "./call-router.ts";
import { EncodeOnceHeaders } from "./encode-once-headers.ts";
import { openStream } from "./nats-stream.ts";
import { unaryResponse } from "./unary-response.ts";

export interface NatsTransportOptions {
  readonly nc: NatsConnection;
  /** Binary protobuf (default) or Connect JSON on the wire. */
  readonly codec: Codec;
  readonly codecOptions: CodecOptions;
  /** The deadline of a call whose caller sets none. Every call has one: a reply may never come. */
  readonly timeoutMs: number;
  readonly interceptors: Interceptor[];
  /**
   * Deadline inheritance, retries, breakers, bulkheads and hedging (`createCallPolicies()`);
   * none when undefined.
   */
  readonly policies: CallPolicy | undefined;
  /** Prefix of every Troupe subject (see subjects.ts). */
  readonly namespace: string;
  /** Streams: messages the server may send ahead of the client's reader. */
  readonly creditWindow: number;
  /** Streams: how long a side may be silent before it checks that its peer is still there. */
  readonly idleTimeoutMs: number;
  /**
   * Where calls go (call-router.ts): the actor's queue group (undefined), one instance chosen
   * through discovery (`{ instance: id }`) or one version (`{ version: "1.1.0" }`).
   */
  readonly target: CallTarget;
  /**
   * Weighted routing between versions, per called service (`watchRoutes` of a route store);
   * a `troupe-version` request header pins a call and wins over it.
   */
  readonly routes: RouteTable | undefined;
  /**
   * Unary requests are published from this scheduler's callback instead of at once, so the
   * requests of many I/O callbacks go out in one socket write (nats.js flushes per microtask, and
   * a server forwarding HTTP requests makes each in its own I/O callback). For a process like the
   * gateway; runtime/platform/after-io.ts gives one that runs right after the I/O phase.
   * Undefined: published at once (what a caller with many calls in one turn wants).
   */
  readonly coalesceRequests: ((flush: () => void) => void) | undefined;
  /**
   * What unary calls go through: undefined for the connection's NATS reply multiplexer, or a
   * direct channel to one instance's address (direct-channel.ts), which falls back to NATS by
   * itself. Streaming calls always go over NATS.
   */
  readonly replies: ReplyMux | undefined;
}

export const defaultNatsTransportOptions: Omit<NatsTransportOptions, "nc"> = {
  codec: "proto",
  codecOptions: defaultCodecOptions,
  timeoutMs: 10_000,
  interceptors: [],
  policies: undefined,
  namespace: "",
  creditWindow: 64,
  idleTimeoutMs: 5_000,
  target: undefined,
  routes: undefined,
  coalesceRequests: undefined,
  replies: undefined,
};

type HeadersInit = ConstructorParameters<typeof Headers>[0];

export function createNatsTransport(
  partial: Partial<NatsTransportOptions> & { nc: NatsConnection },
): Transport {
  const options: NatsTransportOptions = { ...defaultNatsTransportOptions, ...partial };
  if (!(options.creditWindow >= 1) || !(options.idleTimeoutMs > 0) || !(options.timeoutMs > 0)) {
    throw new Error("createNatsTransport: creditWindow must be >= 1, idleTimeoutMs and timeoutMs > 0");
  }
  const { nc, codec, codecOptions, interceptors, policies } = options;
  const mux = options.replies ?? replyMuxOf(nc);
  // A keyed call goes to its partition's owner, whichever instance other replies reach (a call by
  // address names one instance; the key may name another): over NATS.
  const keyedMux = options.replies === undefined ? mux : replyMuxOf(nc);
  const coalesce = options.coalesceRequests === undefined ? undefined : batched(options.coalesceRequests);
  const requestHeaders = (
    timeoutMs: number,
    header: Headers | undefined,
    hdrs: MsgHdrs = headers(),
  ): MsgHdrs => {
    hdrs.set(Header.timeoutMs, String(Math.max(1, Math.ceil(timeoutMs))));
    if (codec === "json") hdrs.set(Header.contentType, contentTypeOf("json"));
    if (header !== undefined) appendMetadata(hdrs, header);
    return hdrs;
  };
  // Most calls carry no metadata and the default deadline: their header block is the same bytes
  // every time, encoded once.
  const defaultHeaders = requestHeaders(options.timeoutMs, undefined, new EncodeOnceHeaders());
  // Interceptors see the method's shared subject as the URL; the call goes where routeOf says.
  const subjects = new Map<DescMethod, string>();
  const subjectOf = (method: DescMethod): string => {
    let subject = subjects.get(method);
    if (subject === undefined) {
      subject = rpcMethodSubject(method, options.namespace);
      subjects.set(method, subject);
    }
    return subject;
  };
  const isInstanceTarget = options.target !== undefined && "instance" in options.target;
  const routeOf = createCallRouter({
    namespace: options.namespace,
    target: options.target,
    routes: options.routes,
    random: Math.random,
  });

  function unaryCall<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    header: Headers | undefined,
    message: MessageShape<I>,
  ): Promise<UnaryResponse<I, O>> {
    if (keyedContractOf(method.parent) === undefined || isInstanceTarget) {
      return unaryOnce(mux, method, signal, timeoutMs, header, message);
    }
    return keyedUnary(method, signal, timeoutMs, header, message);
  }

  /**
   * A keyed call: while its partition has no owner (the owner died and its lease has not expired
   * yet, or it is moving), the call is sent again after 20, 40 … 500 ms within its deadline.
   * Nothing ran on the way: nobody listened, or the instance that got it did not own it.
   */
  async function keyedUnary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    header: Headers | undefined,
    message: MessageShape<I>,
  ): Promise<UnaryResponse<I, O>> {
    const deadline = performance.now() + timeoutMs;
    for (let delayMs = 20, left = timeoutMs; ; delayMs = Math.min(delayMs * 2, 500)) {
      try {
        // The first attempt passes the caller's timeout as it is, so a call with the default one
        // reuses the header block encoded once.
        return await unaryOnce(keyedMux, method, signal, left, header, message);
      } catch (err) {
        if (!isPlacementMiss(err) || deadline - performance.now() <= delayMs) throw err;
        await pause(delayMs, signal);
        left = deadline - performance.now();
      }
    }
  }

  function unaryOnce<I extends DescMessage, O extends DescMessage>(
    mux: ReplyMux,
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    header: Headers | undefined,
    message: MessageShape<I>,
  ): Promise<UnaryResponse<I, O>> {
    if (signal?.aborted) return Promise.reject(ConnectError.from(signal.reason, Code.Canceled));
    let subject: string;
    try {
      subject = routeOf(method, header, message);
    } catch (err) {
      return Promise.reject(ConnectError.from(err, Code.InvalidArgument));
    }
    const bytes = encodeMessage(method.input, codec, message, codecOptions);
    // Undefined unless an OpenTelemetry SDK is installed: then the shared header block is not used.
    const span = startClientSpan(method, subject);
    const hdrs =
      span !== undefined
        ? injectTraceContext(requestHeaders(timeoutMs, header), span)
        : header === undefined && timeoutMs === options.timeoutMs
          ? defaultHeaders
          : requestHeaders(timeoutMs, header);

    const response = new Promise<UnaryResponse<I, O>>((resolve, reject) => {
      const call = new PendingUnary(
        subject,
        performance.now() + timeoutMs,
        method,
        codec,
        codecOptions,
        resolve,
        reject,
      );
      const send = () => {
        if (signal?.aborted) {
          reject(ConnectError.from(signal.reason, Code.Canceled));
          return;
        }
        try {
          mux.request(call, bytes, hdrs);
        } catch (err) {
          reject(requestFailed(err, subject, bytes.length, nc));
          return;
        }
        if (signal !== undefined) call.watch(signal, mux);
      };
      if (coalesce === undefined) send();
      else coalesce(send);
    });
    return span === undefined ? response : endSpanWith(span, response);
  }

  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const timeout = timeoutMs ?? options.timeoutMs;
      if (interceptors.length === 0) {
        const message = isMessage(input, method.input) ? input : create(method.input, input);
        const hdr = header === undefined ? undefined : new Headers(header);
        if (policies === undefined) return unaryCall(method, signal, timeout, hdr, message);
        return policies.unary(method, timeout, signal, (t, s) =>
          unaryCall(method, s, t ?? timeout, hdr, message),
        );
      }
      return runUnaryCall<I, O>({
        interceptors,
        ...(signal === undefined ? {} : { signal }),
        timeoutMs: timeout,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: subjectOf(method),
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) =>
          policies === undefined
            ? unaryCall(req.method, req.signal, timeout, req.header, req.message)
            : policies.unary(req.method, timeout, req.signal, (t, s) =>
                unaryCall(req.method, s, t ?? timeout, req.header, req.message),
              ),
      });
    },

    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      let timeout = timeoutMs ?? options.timeoutMs;
      if (policies !== undefined) [timeout, signal] = policies.stream(timeout, signal);
      return runStreamingCall<I, O>({
        interceptors,
        ...(signal === undefined ? {} : { signal }),
        timeoutMs: timeout,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: subjectOf(method),
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        // Routed after the interceptors ran, so one of them may pin a version by header.
        next: (req) => {
          injectActiveContext(req.header);
          return openStream(req, {
            nc,
            subject: routeOf(req.method, req.header),
            codec,
            codecOptions,
            creditWindow: options.creditWindow,
            idleTimeoutMs: options.idleTimeoutMs,
            timeoutMs: timeout,
          });
        },
      });
    },
  };
}

/** One unary call waiting in the reply multiplexer: its map entry, deadline entry and promise. */
class PendingUnary<I extends DescMessage, O extends DescMessage> implements ReplyCall {
  readonly subject: string;
  readonly deadline: number;
  token = -1;
  index = -1;
  private readonly method: DescMethodUnary<I, O>;
  private readonly codec: Codec;
  private readonly codecOptions: CodecOptions;
  private readonly resolve: (response: UnaryResponse<I, O>) => void;
  private readonly reject: (reason: unknown) => void;
  private signal: AbortSignal | undefined;
  private onAbort: (() => void) | undefined;

  constructor(
    subject: string,
    deadline: number,
    method: DescMethodUnary<I, O>,
    codec: Codec,
    codecOptions: CodecOptions,
    resolve: (response: UnaryResponse<I, O>) => void,
    reject: (reason: unknown) => void,
  ) {
    this.subject = subject;
    this.deadline = deadline;
    this.method = method;
    this.codec = codec;
    this.codecOptions = codecOptions;
    this.resolve = resolve;
    this.reject = reject;
  }

  /** A caller's abort forgets the call and rejects it as `canceled`. */
  watch(signal: AbortSignal, mux: ReplyMux): void {
    this.signal = signal;
    this.onAbort = () => {
      mux.forget(this);
      this.reject(ConnectError.from(signal.reason, Code.Canceled));
    };
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  onReply(msg: Msg): void {
    this.unwatch();
    try {
      this.resolve(unaryResponse(this.method, msg, this.codec, this.codecOptions));
    } catch (err) {
      this.reject(err);
    }
  }

  onError(error: ConnectError): void {
    this.unwatch();
    this.reject(error);
  }

  private unwatch(): void {
    if (this.onAbort !== undefined) this.signal?.removeEventListener("abort", this.onAbort);
  }
}

/** A keyed call that reached no owner of its partition: nothing ran, so it may be sent again. */
function isPlacementMiss(err: unknown): boolean {
  return (
    isNoRespondersError(err) ||
    (err instanceof ConnectError &&
      err.code === Code.Unavailable &&
      err.findDetails(PartitionMovedSchema).length > 0)
  );
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(ConnectError.from(signal?.reason, Code.Canceled));
    }
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

/** The ConnectError for a request that could not be published. */
/** Runs queued sends together from one scheduler callback. */
function batched(schedule: (flush: () => void) => void): (send: () => void) => void {
  let queue: (() => void)[] = [];
  const flush = () => {
    const sends = queue;
    queue = [];
    for (const send of sends) send();
  };
  return (send) => {
    if (queue.push(send) === 1) schedule(flush);
  };
}

function requestFailed(err: unknown, subject: string, bytes: number, nc: NatsConnection): ConnectError {
  if (isPayloadTooLarge(err)) {
    return new ConnectError(
      `the request to ${subject} of ${bytes} bytes exceeds the NATS server's max_payload of ${nc.info?.max_payload ?? "?"} bytes`,
      Code.ResourceExhausted,
    );
  }
  return ConnectError.from(err, Code.Unavailable);
}
