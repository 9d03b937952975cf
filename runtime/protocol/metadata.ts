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

/**
 * Appends every metadata entry of `from` to the NATS headers `to`, names prefixed by `prefix`.
 * Protocol headers in metadata are dropped, never forwarded: a caller cannot set a call's
 * deadline or codec by naming a header.
 */
export function appendMetadata(to: MsgHdrs, from: Headers | undefined, prefix = ""): void {
  from?.forEach((value, name) => {
    if (!PROTOCOL_HEADERS.has(name)) to.append(prefix + name, value);
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

/**
 * The first value of each of `names` (lower case) in one pass over the headers, matched
 * case-insensitively: for code that reads several protocol headers of every message.
 */
export function pickHeaders<const N extends readonly string[]>(
  hdrs: MsgHdrs | undefined,
  names: N,
): { [K in keyof N]: string | undefined } {
  const found = names.map(() => undefined) as (string | undefined)[];
  if (hdrs !== undefined) {
    for (const [key, values] of hdrs) {
      const index = names.indexOf(key.toLowerCase());
      if (index !== -1 && found[index] === undefined) found[index] = values[0];
    }
  }
  return found as { [K in keyof N]: string | undefined };
}
