/**
 * Connect metadata (fetch `Headers`) to and from NATS headers. Request and response headers
 * travel under their own (lower-case) names; trailers of a unary reply travel with the
 * `trailer-` prefix, as in Connect's unary protocol. Protocol headers are not metadata.
 */
import { Match, type MsgHdrs } from "@nats-io/nats-core";
import { PROTOCOL_HEADERS, TRAILER_PREFIX } from "./headers.ts";

/** A header of a NATS message, matched case-insensitively (people type `Content-Type`). */
export function natsHeader(hdrs: MsgHdrs | undefined, name: string): string | undefined {
  if (hdrs === undefined) return undefined;
  const value = hdrs.get(name, Match.IgnoreCase as "exact");
  return value === "" ? undefined : value;
}

/** Appends every metadata entry of `from` to the NATS headers `to`, names prefixed by `prefix`. */
export function appendMetadata(to: MsgHdrs, from: Headers, prefix = ""): void {
  from.forEach((value, name) => {
    to.append(prefix + name, value);
  });
}

/** The metadata carried by NATS headers, without protocol headers; trailers split off by prefix. */
export function metadataOf(hdrs: MsgHdrs | undefined): { header: Headers; trailer: Headers } {
  const header = new Headers();
  const trailer = new Headers();
  if (hdrs === undefined) return { header, trailer };
  for (const key of hdrs.keys()) {
    const name = key.toLowerCase();
    if (PROTOCOL_HEADERS.has(name)) continue;
    const isTrailer = name.startsWith(TRAILER_PREFIX);
    for (const value of hdrs.values(key)) {
      if (isTrailer) trailer.append(name.slice(TRAILER_PREFIX.length), value);
      else header.append(name, value);
    }
  }
  return { header, trailer };
}

/** True when `headers` has at least one entry. */
export function hasEntries(headers: Headers): boolean {
  for (const _ of headers.keys()) return true;
  return false;
}
