/**
 * One call arriving at an actor, as the host hands it to the code that serves its method kind
 * (serve-unary.ts, serve-stream.ts).
 */
import type { ConnectError, HandlerContext, Interceptor, MethodImplSpec } from "@connectrpc/connect";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { Codec, CodecOptions } from "../protocol/codec.ts";
import type { RequestCheck } from "./request-validator.ts";

/** A HandlerContext the host can abort (deadline, cancellation, drain). */
export interface HostHandlerContext extends HandlerContext {
  abort(reason?: unknown): void;
}

export interface IncomingCall {
  readonly nc: NatsConnection;
  /** The first NATS message of the call: its subject, reply inbox, headers and body. */
  readonly msg: Msg;
  readonly spec: MethodImplSpec;
  /** The check of each request message, or undefined when there is nothing to check. */
  readonly check: RequestCheck | undefined;
  /** The codec the caller asked for; replies use the same. */
  readonly codec: Codec;
  readonly codecOptions: CodecOptions;
  readonly context: HostHandlerContext;
  /** Connect interceptors configured on the host; they run around the implementation. */
  readonly interceptors: Interceptor[];
  /** The server's max_payload: a reply or frame above it is refused with resource_exhausted. */
  readonly maxPayloadBytes: number;
  /** Streams: client messages the host lets the caller send ahead of the handler. */
  readonly creditWindow: number;
  /** Streams: how long the host may be silent before it checks that the caller is still there. */
  readonly idleTimeoutMs: number;
  /** Called exactly once when the call is over, with the error the caller was sent, if any. */
  done(error?: ConnectError): void;
}
