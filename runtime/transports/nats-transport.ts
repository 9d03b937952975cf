/**
 * A Connect `Transport` over NATS: `createClient(UserService, createNatsTransport({ nc }))`.
 * Unary calls are one NATS request/reply through the connection's reply multiplexer
 * (reply-mux.ts); streaming calls are pinned to one actor instance through per-call inboxes
 * (nats-stream.ts). Interceptors run through Connect's own runUnaryCall/runStreamingCall;
 * without interceptors, unary calls skip that machinery (its per-call timer, abort controller
 * and headers). See docs/adr/0004-rpc-over-nats.md.
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
import { headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import {
  type Codec,
  type CodecOptions,
  contentTypeOf,
  decodeMessage,
  defaultCodecOptions,
  encodeMessage,
} from "../protocol/codec.ts";
import { decodeErrorReply } from "../protocol/errors.ts";
import { Header } from "../protocol/headers.ts";
import { appendMetadata, metadataOf, natsHeader } from "../protocol/metadata.ts";
import { rpcMethodSubject } from "../protocol/subjects.ts";
import { openStream } from "./nats-stream.ts";
import { replyMuxOf } from "./reply-mux.ts";

export interface NatsTransportOptions {
  readonly nc: NatsConnection;
  /** Binary protobuf (default) or Connect JSON on the wire. */
  readonly codec: Codec;
  readonly codecOptions: CodecOptions;
  /** The deadline of a call whose caller sets none. Every call has one: a reply may never come. */
  readonly timeoutMs: number;
  readonly interceptors: Interceptor[];
  /** Prefix of every Troupe subject (see subjects.ts). */
  readonly namespace: string;
  /** Streams: messages the server may send ahead of the client's reader. */
  readonly creditWindow: number;
  /** Streams: how long a side may be silent before it checks that its peer is still there. */
  readonly idleTimeoutMs: number;
}

export const defaultNatsTransportOptions: Omit<NatsTransportOptions, "nc"> = {
  codec: "proto",
  codecOptions: defaultCodecOptions,
  timeoutMs: 10_000,
  interceptors: [],
  namespace: "",
  creditWindow: 64,
  idleTimeoutMs: 5_000,
};

type HeadersInit = ConstructorParameters<typeof Headers>[0];

export function createNatsTransport(
  partial: Partial<NatsTransportOptions> & { nc: NatsConnection },
): Transport {
  const options: NatsTransportOptions = { ...defaultNatsTransportOptions, ...partial };
  if (!(options.creditWindow >= 1) || !(options.idleTimeoutMs > 0) || !(options.timeoutMs > 0)) {
    throw new Error("createNatsTransport: creditWindow must be >= 1, idleTimeoutMs and timeoutMs > 0");
  }
  const { nc, codec, codecOptions, interceptors } = options;
  const mux = replyMuxOf(nc);
  const subjects = new Map<DescMethod, string>();
  const subjectOf = (method: DescMethod): string => {
    let subject = subjects.get(method);
    if (subject === undefined) {
      subject = rpcMethodSubject(method, options.namespace);
      subjects.set(method, subject);
    }
    return subject;
  };

  function unaryCall<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    header: Headers | undefined,
    message: MessageShape<I>,
  ): Promise<UnaryResponse<I, O>> {
    const subject = subjectOf(method);
    if (signal?.aborted) return Promise.reject(ConnectError.from(signal.reason, Code.Canceled));
    const bytes = encodeMessage(method.input, codec, message, codecOptions);
    const hdrs = headers();
    hdrs.set(Header.timeoutMs, String(Math.max(1, Math.ceil(timeoutMs))));
    if (codec === "json") hdrs.set(Header.contentType, contentTypeOf("json"));
    if (header !== undefined) appendMetadata(hdrs, header);

    return new Promise<UnaryResponse<I, O>>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const handler = {
        onReply(msg: Msg) {
          if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
          try {
            resolve(unaryResponse(method, msg, codec, codecOptions));
          } catch (err) {
            reject(err);
          }
        },
        onError(error: ConnectError) {
          if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      let forget: () => void;
      try {
        forget = mux.request(subject, bytes, hdrs, performance.now() + timeoutMs, handler);
      } catch (err) {
        reject(requestFailed(err, subject, bytes.length, nc));
        return;
      }
      if (signal !== undefined) {
        onAbort = () => {
          forget();
          reject(ConnectError.from(signal.reason, Code.Canceled));
        };
        signal.addEventListener("abort", onAbort, { once: true });
      }
    });
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
        return unaryCall(
          method,
          signal,
          timeout,
          header === undefined ? undefined : new Headers(header),
          message,
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
        next: (req) => unaryCall(req.method, req.signal, timeout, req.header, req.message),
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
      const timeout = timeoutMs ?? options.timeoutMs;
      const subject = subjectOf(method);
      return runStreamingCall<I, O>({
        interceptors,
        ...(signal === undefined ? {} : { signal }),
        timeoutMs: timeout,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: subject,
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) =>
          openStream(req, {
            nc,
            subject,
            codec,
            codecOptions,
            creditWindow: options.creditWindow,
            idleTimeoutMs: options.idleTimeoutMs,
            timeoutMs: timeout,
          }),
      });
    },
  };
}

/** Reads a unary reply: an error reply rejects; otherwise the message and its metadata. */
function unaryResponse<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  msg: Msg,
  codec: Codec,
  codecOptions: CodecOptions,
): UnaryResponse<I, O> {
  const hdrs = msg.headers;
  const { header, trailer } = metadataOf(hdrs);
  const status = natsHeader(hdrs, Header.serviceErrorCode);
  if (status !== undefined) {
    throw decodeErrorReply(status, natsHeader(hdrs, Header.serviceError), msg.data, header);
  }
  let message: MessageShape<O>;
  try {
    message = decodeMessage(method.output, codec, msg.data, codecOptions);
  } catch (err) {
    throw new ConnectError(`invalid reply: ${(err as Error).message}`, Code.Internal);
  }
  return { stream: false, service: method.parent, method, header, message, trailer };
}

/** The ConnectError for a request that could not be published. */
function requestFailed(err: unknown, subject: string, bytes: number, nc: NatsConnection): ConnectError {
  if (err instanceof Error && err.message.includes("max_payload")) {
    return new ConnectError(
      `the request to ${subject} of ${bytes} bytes exceeds the NATS server's max_payload of ${nc.info?.max_payload ?? "?"} bytes`,
      Code.ResourceExhausted,
    );
  }
  return ConnectError.from(err, Code.Unavailable);
}
