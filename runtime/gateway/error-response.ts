/**
 * A refusal or failure as an HTTP response in the Connect protocol's error format
 * (https://connectrpc.com/docs/protocol#error-end-stream): `{"code":"…","message":"…"}` with the
 * HTTP status Connect assigns to the code, unless the gateway has a more precise one
 * (413 for an oversize body).
 */
import type { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import { Header } from "../protocol/headers.ts";

export function connectErrorResponse(
  error: ConnectError,
  requestId: string,
  status: number = codeToHttpStatus(error.code),
  extraHeaders: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(errorToJson(error, undefined)), {
    status,
    headers: { "content-type": "application/json", [Header.requestId]: requestId, ...extraHeaders },
  });
}
