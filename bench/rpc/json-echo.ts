/**
 * The Echo calls of the peers whose frameworks speak JSON (Moleculer, NestJS microservices):
 * both serializers are JSON by default, so the encoded EchoRequest travels as a base64 string in
 * `{ payload }`, as a user of either sends bytes through a JSON API (a bare Buffer would also
 * pass, but JSON writes it as an array of numbers, about 3.6 characters per byte). The server
 * returns what it got; the client checks that the answer decodes to as many bytes as it sent.
 */
import { encodedEchoRequestOfSize } from "../shared/echo-request.ts";
import { checkEcho, type PeerClient } from "./peer-client.ts";

/** The request and the answer of the JSON peers' echo. */
export interface JsonEcho {
  /** The encoded EchoRequest, base64. */
  readonly payload: string;
}

/** The Moleculer peer's service, and the action the client calls (`bench.echo`). */
export const MOLECULER_SERVICE = "bench";
export const MOLECULER_ECHO = `${MOLECULER_SERVICE}.echo`;

/** Echo calls that send through `send`, one framework's call with `{ payload }`. */
export function jsonEcho(send: (request: JsonEcho) => Promise<JsonEcho>): PeerClient["echo"] {
  return (sizeBytes) => {
    const encoded = encodedEchoRequestOfSize(sizeBytes);
    const request: JsonEcho = { payload: Buffer.from(encoded).toString("base64") };
    return async () => {
      const reply = await send(request);
      checkEcho(encoded.length, Buffer.from(reply.payload, "base64").length);
    };
  };
}
