/**
 * Connect service implementations that forward every public method of a service to its actors
 * over NATS, built from the service descriptor alone: the gateway holds no business logic. Each
 * call passes the gate (gate.ts), as Connect's `requestGate`, before its body is read; then it
 * goes out on the NATS transport with the caller's remaining time (`connect-timeout-ms` /
 * `grpc-timeout`, which Connect's handlers parse into `timeoutMs()`), the gateway's default when
 * the caller set none, and the caller's abort signal. Streams of every kind are forwarded
 * message by message.
 *
 * A method the contract does not mark public gets an implementation that only refuses, built
 * without the transport: whatever the gate or a route says, there is no code path from outside
 * to a private method (docs/adr/0029-a-hardened-edge.md).
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
  type ContextKey,
  createContextKey,
  type HandlerContext,
  type Transport,
} from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { Header } from "../protocol/headers.ts";
import { type Gate, notPublic } from "./gate.ts";
import { methodExposure } from "./method-exposure.ts";
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

export interface Forwarding {
  /** Registers an implementation of every method of the services on a Connect router. */
  readonly routes: (router: ConnectRouter) => void;
  /**
   * A Connect `requestGate` (router option): admits a call of a fronted method, or refuses it,
   * before its request body is read; calls of other methods (reflection) pass untouched.
   */
  readonly requestGate: (ctx: HandlerContext) => Promise<void>;
}

/** The headers the gate admitted a call with, for its implementation. */
const admittedKey: ContextKey<Headers | undefined> = createContextKey<Headers | undefined>(undefined, {
  description: "troupe gateway admitted headers",
});

export function forwardingRoutes(services: readonly DescService[], options: ForwardingOptions): Forwarding {
  const fronted = new Set<DescMethod>(services.flatMap((service) => service.methods));
  const admit = (method: DescMethod, ctx: HandlerContext) => {
    const requestId = options.requestIdOf(ctx);
    ctx.responseHeader.set(Header.requestId, requestId);
    return options.gate(method, ctx.requestHeader, requestId);
  };
  return {
    routes: (router) => {
      for (const method of fronted) {
        const impl = methodExposure(method).public
          ? forwardingImpl(method, options, admit)
          : refusingImpl(method);
        router.rpc(method, impl as never);
      }
    },
    requestGate: async (ctx) => {
      if (fronted.has(ctx.method)) ctx.values.set(admittedKey, await admit(ctx.method, ctx));
    },
  };
}

type Message = MessageShape<DescMessage>;

/** A private method's implementation: refuses, and holds nothing that could forward the call. */
function refusingImpl(method: DescMethod) {
  switch (method.methodKind) {
    case "unary":
    case "client_streaming":
      return async () => {
        throw notPublic(method);
      };
    case "server_streaming":
    case "bidi_streaming":
      // biome-ignore lint/correctness/useYield: it refuses before its first message
      return async function* () {
        throw notPublic(method);
      };
  }
}

function forwardingImpl(
  method: DescMethod,
  options: ForwardingOptions,
  admitCall: (method: DescMethod, ctx: HandlerContext) => Promise<Headers>,
) {
  const { transport } = options;
  const timeoutOf = (ctx: HandlerContext, fallback: number) => ctx.timeoutMs() ?? fallback;
  /** The headers the request gate admitted the call with; a router without the gate admits here. */
  const admit = (ctx: HandlerContext) => {
    const admitted = ctx.values.get(admittedKey);
    return admitted === undefined ? admitCall(method, ctx) : Promise.resolve(admitted);
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
