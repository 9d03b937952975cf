/**
 * Response metadata an actor set reaches the outside caller, as Connect carries it between
 * actors (docs/adr/0008-gateway.md): its response headers as headers, its trailers as trailers
 * (gRPC, Connect streams) or, for REST, as headers too. Names that belong to the protocols or to
 * the connection stay the gateway's own.
 */

/** Protocol (Connect, gRPC, NATS micro, Troupe), hop-by-hop and framing headers, and the request id. */
const RESERVED_RESPONSE_HEADER =
  /^(?:content-|connect-|grpc-|nats-|troupe-|trailer-|x-request-id$|connection$|keep-alive$|transfer-encoding$|upgrade$|te$|trailer$|proxy-)/i;

/** Appends the entries of `from` to `to`, but for reserved names. */
export function passOn(from: Headers, to: Headers): void {
  from.forEach((value, name) => {
    if (!RESERVED_RESPONSE_HEADER.test(name)) to.append(name, value);
  });
}
