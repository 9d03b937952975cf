/**
 * The few protocol headers a host reads from every call (the codec, the deadline), picked from
 * the message's header bytes without decoding the whole block. nats.js decodes headers on first
 * read of `msg.headers` (`MsgHdrsImpl.decode`: the block as a string, split into lines, every key
 * canonicalised into a map), and a profile of a Troupe host at 64 calls in flight on Bun put an
 * eighth of its CPU there (bench/README.md, "Where Troupe's time goes"). Nothing else in a plain
 * call reads the headers, so a call whose handler does not ask for its metadata never decodes them.
 *
 * The bytes come from nats.js's message object (`MsgImpl`: `_rdata` holds the header block and
 * the payload, `_msg.hdr` the length of the block), which the package does not export as API.
 * When a message has no such fields (another nats.js, a message built elsewhere), the headers are
 * read through `msg.headers` as before: same result, the old cost. tests/portable/raw-headers.test.ts
 * compares both readings over real messages and fails if nats.js's fields move.
 */
import type { Msg } from "@nats-io/nats-core";
import { pickHeaders } from "./metadata.ts";

/** What nats.js's MsgImpl keeps: the header block is `rdata[0, hdr)`; `hdr` is -1 without headers. */
interface RawMsg {
  readonly _msg?: { readonly hdr?: unknown };
  readonly _rdata?: unknown;
}

const CR = 13;
const LF = 10;
const COLON = 58;
const STATUS_LINE = "NATS/1.0";
const utf8 = new TextDecoder();

/** The header block of a message from nats.js, as bytes; undefined when the message does not expose one. */
export function rawHeaderBlock(msg: Msg): Uint8Array | null | undefined {
  const raw = msg as unknown as RawMsg;
  const hdr = raw._msg?.hdr;
  const data = raw._rdata;
  if (typeof hdr !== "number" || !(data instanceof Uint8Array) || hdr > data.length) return undefined;
  return hdr > 0 ? data.subarray(0, hdr) : null;
}

/**
 * The first value of each of `names` (lower case ASCII) among the message's headers, matched
 * case-insensitively and trimmed, as `pickHeaders(msg.headers, names)` gives them.
 */
export function pickMessageHeaders<const N extends readonly string[]>(
  msg: Msg,
  names: N,
): { [K in keyof N]: string | undefined } {
  const block = rawHeaderBlock(msg);
  if (block === null) return names.map(() => undefined) as { [K in keyof N]: string | undefined };
  const found = block === undefined ? undefined : scan(block, names);
  return found ?? pickHeaders(msg.headers, names);
}

/** One pass over `NATS/1.0…\r\nKey: value\r\n…`; undefined if the block does not start so. */
function scan<const N extends readonly string[]>(
  block: Uint8Array,
  names: N,
): { [K in keyof N]: string | undefined } | undefined {
  for (let i = 0; i < STATUS_LINE.length; i++) {
    if (block[i] !== STATUS_LINE.charCodeAt(i)) return undefined;
  }
  const found = names.map(() => undefined) as (string | undefined)[];
  let left = names.length;
  // Lines end with CRLF, as nats.js splits them; the status line is skipped.
  let at = lineEnd(block, 0) + 2;
  while (at < block.length && left > 0) {
    const end = lineEnd(block, at);
    if (end === at) break; // the empty line that ends the block
    const colon = block.indexOf(COLON, at);
    if (colon !== -1 && colon < end) {
      const index = nameIndex(block, at, colon, names);
      if (index !== -1 && found[index] === undefined) {
        found[index] = value(block, colon + 1, end);
        left--;
      }
    }
    at = end + 2;
  }
  return found as { [K in keyof N]: string | undefined };
}

/** Where the line from `from` ends: its CRLF, or the end of the block. */
function lineEnd(block: Uint8Array, from: number): number {
  for (let at = block.indexOf(CR, from); at !== -1; at = block.indexOf(CR, at + 1)) {
    if (block[at + 1] === LF) return at;
  }
  return block.length;
}

/** Which of `names` the key `block[from, to)` is, ignoring ASCII case; -1 if none. */
function nameIndex(block: Uint8Array, from: number, to: number, names: readonly string[]): number {
  const length = to - from;
  outer: for (let n = 0; n < names.length; n++) {
    const name = names[n] as string;
    if (name.length !== length) continue;
    for (let i = 0; i < length; i++) {
      let c = block[from + i] as number;
      if (c >= 65 && c <= 90) c += 32;
      if (c !== name.charCodeAt(i)) continue outer;
    }
    return n;
  }
  return -1;
}

/** `block[from, to)` decoded as UTF-8 (ASCII without a decoder) and trimmed, as nats.js does. */
function value(block: Uint8Array, from: number, to: number): string {
  let ascii = true;
  for (let i = from; ascii && i < to; i++) ascii = (block[i] as number) < 128;
  if (!ascii) return utf8.decode(block.subarray(from, to)).trim();
  let text = "";
  for (let i = from; i < to; i++) text += String.fromCharCode(block[i] as number);
  return text.trim();
}
