/**
 * Connect service implementations that forward every method of a service to its actors over
 * NATS, built from the service descriptor alone: the gateway holds no business logic. Each call
 * passes the gate (gate.ts), then goes out on the NATS transport with the caller's remaining
 * time (`connect-timeout-ms` / `grpc-timeout`, which Connect's handlers parse into
 * `timeoutMs()`), the gateway's default when the caller set none, and the caller's abort
 * signal. Streams of every kind are forwarded message by message.
 */
import type {
  DescMessage,
  DescMethod,
  DescMethodStreaming,
  DescMethodUnary,
  DescService,
  MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type HandlerContext,
  type Transport,
} from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { Header } from "../protocol/headers.ts";
import type { Gate } from "./gate.ts";
import { passOn } from "./response-metadata.ts";

export interface ForwardingOptions {
  readonly transport: Transport;
  readonly gate: Gate;
  /** The deadline of a unary call whose caller sets none. */
  readonly timeoutMs: number;
  /** The deadline of a stream whose caller sets none (streams such as watches last long). */
  readonly streamTimeoutMs: number;
  /** The request id of a call: set by the gateway's front (Hono or the gRPC adapter). */
  readonly requestIdOf: (context: HandlerContext) => string;
}

/** Registers a forwarding implementation of every method of `services` on a Connect router. */
export function forwardingRoutes(
  services: readonly DescService[],
  options: ForwardingOptions,
): (router: ConnectRouter) => void {
  return (router) => {
    for (const service of services) {
      for (const method of service.methods) router.rpc(method, forwardingImpl(method, options) as never);
    }
  };
}

type Message = MessageShape<DescMessage>;

function forwardingImpl(method: DescMethod, options: ForwardingOptions) {
  const { transport, gate } = options;
  const timeoutOf = (ctx: HandlerContext, fallback: number) => ctx.timeoutMs() ?? fallback;
  const admit = (ctx: HandlerContext) => {
    const requestId = options.requestIdOf(ctx);
    ctx.responseHeader.set(Header.requestId, requestId);
    return gate(method, ctx.requestHeader, requestId);
  };
  /** Admits the call, then opens the actor's stream; resolves with its messages. */
  const forwardStream = async (
    streaming: DescMethodStreaming,
    ctx: HandlerContext,
    input: AsyncIterable<Message>,
  ): Promise<AsyncIterable<Message>> => {
    const header = await admit(ctx);
    const res = await transport.stream(
      streaming,
      ctx.signal,
      timeoutOf(ctx, options.streamTimeoutMs),
      header,
      input,
    );
    passOn(res.header, ctx.responseHeader);
    // Trailers are known once the actor's stream ended.
    return (async function* () {
      yield* res.message;
      passOn(res.trailer, ctx.responseTrailer);
    })();
  };
  switch (method.methodKind) {
    case "unary": {
      const unary = method as DescMethodUnary;
      return async (req: Message, ctx: HandlerContext) => {
        const header = await admit(ctx);
        const res = await transport.unary(unary, ctx.signal, timeoutOf(ctx, options.timeoutMs), header, req);
        passOn(res.header, ctx.responseHeader);
        passOn(res.trailer, ctx.responseTrailer);
        return res.message;
      };
    }
    case "server_streaming":
      return async function* (req: Message, ctx: HandlerContext) {
        yield* await forwardStream(method as DescMethodStreaming, ctx, createAsyncIterable([req]));
      };
    case "client_streaming":
      return async (reqs: AsyncIterable<Message>, ctx: HandlerContext) => {
        let single: Message | undefined;
        for await (const message of await forwardStream(method as DescMethodStreaming, ctx, reqs)) {
          if (single !== undefined)
            throw new ConnectError("the service answered more than once", Code.Internal);
          single = message;
        }
        if (single === undefined) throw new ConnectError("the service did not answer", Code.Internal);
        return single;
      };
    case "bidi_streaming":
      return async function* (reqs: AsyncIterable<Message>, ctx: HandlerContext) {
        yield* await forwardStream(method as DescMethodStreaming, ctx, reqs);
      };
  }
}
