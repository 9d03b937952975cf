/** Error replies of the host: the only place the host writes the wire's error shape. */
import { Code, ConnectError } from "@connectrpc/connect";
import { headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { contentTypeOf } from "../protocol/codec.ts";
import { encodeErrorReply } from "../protocol/errors.ts";
import { Header } from "../protocol/headers.ts";

/** Answers `msg` with `error`: micro error headers plus Connect's JSON error body. */
export function replyError(msg: Msg, error: ConnectError): void {
  const reply = encodeErrorReply(error);
  const hdrs = headers();
  hdrs.set(Header.serviceErrorCode, String(reply.status));
  hdrs.set(Header.serviceError, reply.description);
  hdrs.set(Header.contentType, contentTypeOf("json"));
  try {
    msg.respond(reply.body, { headers: hdrs });
  } catch {
    // The caller's inbox is gone or the connection is closing: nobody is left to tell.
  }
}

/** The error for a message that does not fit the server's max_payload. */
export function payloadTooLarge(what: string, bytes: number, nc: NatsConnection): ConnectError {
  const limit = nc.info?.max_payload ?? 0;
  return new ConnectError(
    `${what} of ${bytes} bytes exceeds the NATS server's max_payload of ${limit} bytes`,
    Code.ResourceExhausted,
  );
}
