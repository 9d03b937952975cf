/**
 * Errors on the wire. Every error reply carries the NATS micro error headers (ADR-32), so
 * `$SRV.STATS` and `nats req` show them, and a body with Connect's JSON error
 * (`{"code":"not_found","message":"…","details":[…]}`), so codes and details survive the trip.
 * This module is the only place that translates between ConnectError and that shape.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  codeFromHttpStatus,
  codeToHttpStatus,
  errorFromJsonBytes,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";

/** What an error reply consists of, independent of how headers are carried. */
export interface ErrorReply {
  /** HTTP-style status for `Nats-Service-Error-Code` (Connect's mapping: not_found → 404, …). */
  readonly status: number;
  /** For `Nats-Service-Error`: the message, on one line. */
  readonly description: string;
  /** Connect JSON error. */
  readonly body: Uint8Array;
}

/** The caller-visible message for an error that was not a ConnectError: no internals leak. */
export const INTERNAL_ERROR_MESSAGE = "internal error";

/**
 * The ConnectError to send for whatever a handler threw. A ConnectError passes through; anything
 * else becomes `internal` with a generic message (the caller must not see stacks or internals;
 * the host logs the original).
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError(INTERNAL_ERROR_MESSAGE, Code.Internal, undefined, undefined, err);
}

export function encodeErrorReply(error: ConnectError): ErrorReply {
  return {
    status: codeToHttpStatus(error.code),
    description: error.rawMessage.replace(/[\r\n]+/g, " ") || Code[error.code],
    body: errorToJsonBytes(error, {}),
  };
}

/**
 * The ConnectError an error reply describes. The JSON body is authoritative; without one (a
 * plain NATS micro service answered) the status and description are used.
 */
export function decodeErrorReply(
  status: string | undefined,
  description: string | undefined,
  body: Uint8Array,
  metadata?: Headers,
): ConnectError {
  const code = codeFromHttpStatus(Number(status) || 500);
  const fallback = new ConnectError(description ?? "error without a description", code, metadata);
  if (body.length === 0) return fallback;
  try {
    return errorFromJsonBytes(body, metadata, fallback);
  } catch {
    return fallback;
  }
}

/**
 * True for the error nats.js throws when a publish would exceed the server's max_payload (it
 * has no class of its own: nats-core throws an InvalidArgumentError naming max_payload).
 */
export function isPayloadTooLarge(err: unknown): boolean {
  return err instanceof Error && err.message.includes("max_payload");
}

/** True for the NATS server's "no responders" status reply (503): nobody listens on the subject. */
export function isNoResponders(msg: { readonly headers?: { readonly code: number } | undefined }): boolean {
  return msg.headers?.code === 503;
}
