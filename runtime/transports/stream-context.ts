/** What the NATS transport hands to the code that runs one streaming call (nats-stream.ts). */
import type { NatsConnection } from "@nats-io/nats-core";
import type { Codec, CodecOptions } from "../protocol/codec.ts";

export interface StreamContext {
  readonly nc: NatsConnection;
  /** The method's subject (rpc.<package>.<Service>.<Method>, or an instance subject). */
  readonly subject: string;
  readonly codec: Codec;
  readonly codecOptions: CodecOptions;
  /** Messages the client lets the server send ahead of its reader (initial credit). */
  readonly creditWindow: number;
  /** How long a side may be silent before it pings its peer to prove the call is alive. */
  readonly idleTimeoutMs: number;
  /** The call's deadline in milliseconds from now, sent as `connect-timeout-ms`; none if undefined. */
  readonly timeoutMs: number | undefined;
}
