/**
 * The frames of a direct call by address (docs/adr/0031-direct-calls-by-address.md): a unary
 * request and its reply carried over one TCP connection between a caller and one actor instance,
 * many calls in flight on it, each with a caller-chosen id. A request carries what a NATS request
 * carries (subject, NATS header block, payload), so the host serves it through the same code as a
 * NATS message and the caller reads the reply as it reads a NATS reply.
 *
 *   frame   = length:u32 kind:u8 id:u32 body          (big-endian; length counts kind, id, body)
 *   REQUEST = subjectLength:u16 subject headersLength:u32 headers payload
 *   REPLY   = headersLength:u32 headers payload
 *   REFUSED = (empty)   the host did not take the call (draining, no such service): send it elsewhere
 *   GOAWAY  = (empty)   the host takes no more calls on this connection; replies still come
 *   HELLO   = nonce     the host's first frame; id 1: prove who you are (AUTH) before calling
 *   AUTH    = JSON      the caller's proof: its user JWT and its signature of the nonce
 *   WELCOME = (empty)   the proof holds: calls may follow
 *
 * `headers` is the NATS header block (`NATS/1.0\r\n…\r\n\r\n`, as nats.js encodes it), or empty.
 */
import { type Msg, type MsgHdrs, MsgHdrsImpl, type Payload, type PublishOptions } from "@nats-io/nats-core";

export const FrameKind = {
  request: 1,
  reply: 2,
  refused: 3,
  goAway: 4,
  hello: 5,
  auth: 6,
  welcome: 7,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** A listener's address as discovery advertises it (`troupe.direct`): `host:port` or `tls://host:port`. */
export interface DirectAddress {
  readonly host: string;
  /** 0 means "any" to a listener. */
  readonly port: number;
  readonly tls: boolean;
}

export function formatDirectAddress(hostPort: string, tls: boolean): string {
  return tls ? `tls://${hostPort}` : hostPort;
}

/** Splits `host:port` or `tls://host:port` (a bracketed IPv6 host too); undefined when it is neither. */
export function parseDirectAddress(address: string): DirectAddress | undefined {
  const match = /^(tls:\/\/)?\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  if (match === null) return undefined;
  const port = Number(match[3]);
  return port < 65_536 ? { host: match[2] as string, port, tls: match[1] !== undefined } : undefined;
}

/** Bytes before the body: length, kind, id. */
const PREFIX = 9;

export interface Frame {
  readonly kind: FrameKind;
  readonly id: number;
  /** REQUEST only. */
  readonly subject: string;
  /** REQUEST and REPLY: the NATS header block, empty when there are none. */
  readonly headers: Uint8Array;
  readonly payload: Uint8Array;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

/**
 * A request frame up to its payload: written before the payload (ByteStream writes both in one
 * system call), so the payload is not copied into a frame of its own.
 */
export function encodeRequestHead(
  id: number,
  subject: string,
  headers: Uint8Array,
  payloadLength: number,
): Uint8Array {
  const subjectBytes = utf8.encode(subject);
  if (subjectBytes.length > 0xffff)
    throw new RangeError(`subject of ${subjectBytes.length} bytes is too long`);
  const head = 2 + subjectBytes.length + 4 + headers.length;
  const frame = new Uint8Array(PREFIX + head);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 5 + head + payloadLength);
  view.setUint8(4, FrameKind.request);
  view.setUint32(5, id);
  let at = PREFIX;
  view.setUint16(at, subjectBytes.length);
  frame.set(subjectBytes, at + 2);
  at += 2 + subjectBytes.length;
  view.setUint32(at, headers.length);
  frame.set(headers, at + 4);
  return frame;
}

/** A reply frame up to its payload (see encodeRequestHead). */
export function encodeReplyHead(id: number, headers: Uint8Array, payloadLength: number): Uint8Array {
  const head = 4 + headers.length;
  const frame = new Uint8Array(PREFIX + head);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 5 + head + payloadLength);
  view.setUint8(4, FrameKind.reply);
  view.setUint32(5, id);
  view.setUint32(PREFIX, headers.length);
  frame.set(headers, PREFIX + 4);
  return frame;
}

/** A whole request frame, head and payload in one array. */
export function encodeRequest(
  id: number,
  subject: string,
  headers: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  return joined(encodeRequestHead(id, subject, headers, payload.length), payload);
}

/** A whole reply frame, head and payload in one array. */
export function encodeReply(id: number, headers: Uint8Array, payload: Uint8Array): Uint8Array {
  return joined(encodeReplyHead(id, headers, payload.length), payload);
}

function joined(head: Uint8Array, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(head.length + payload.length);
  frame.set(head);
  frame.set(payload, head.length);
  return frame;
}

/** A frame whose body is only a payload: REFUSED, GOAWAY, HELLO, AUTH, WELCOME. */
export function encodeSignal(
  kind: Exclude<FrameKind, typeof FrameKind.request | typeof FrameKind.reply>,
  id: number,
  payload: Uint8Array = EMPTY,
): Uint8Array {
  const frame = new Uint8Array(PREFIX + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 5 + payload.length);
  view.setUint8(4, kind);
  view.setUint32(5, id);
  frame.set(payload, PREFIX);
  return frame;
}

/** Why a byte stream is not a stream of frames; the connection cannot go on. */
export class FrameError extends Error {}

/**
 * Cuts a byte stream (TCP chunks of any size) into frames. A frame longer than `maxFrameBytes`
 * or of an unknown kind is a FrameError: the peer does not speak this protocol.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  #buffer: Uint8Array = EMPTY;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** The frames completed by `chunk`; an incomplete one waits for the next chunk. */
  push(chunk: Uint8Array): Frame[] {
    let buffer: Uint8Array;
    if (this.#buffer.length === 0) {
      buffer = chunk;
    } else {
      buffer = new Uint8Array(this.#buffer.length + chunk.length);
      buffer.set(this.#buffer);
      buffer.set(chunk, this.#buffer.length);
    }
    const frames: Frame[] = [];
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    let at = 0;
    while (buffer.length - at >= 4) {
      const length = view.getUint32(at);
      if (length < 5 || length > this.#maxFrameBytes) {
        throw new FrameError(`a frame of ${length} bytes (the limit is ${this.#maxFrameBytes})`);
      }
      if (buffer.length - at - 4 < length) break;
      frames.push(decodeFrame(buffer.subarray(at + 4, at + 4 + length), view, at + 4));
      at += 4 + length;
    }
    // What is left is copied, so the chunk it came from is not kept alive by a few bytes.
    this.#buffer = at === buffer.length ? EMPTY : buffer.slice(at);
    return frames;
  }
}

function decodeFrame(frame: Uint8Array, view: DataView, offset: number): Frame {
  const kind = frame[0] as FrameKind;
  const id = view.getUint32(offset + 1);
  switch (kind) {
    case FrameKind.request: {
      if (frame.length < 7) throw new FrameError("a truncated request frame");
      const subjectLength = view.getUint16(offset + 5);
      const subjectEnd = 7 + subjectLength;
      if (frame.length < subjectEnd + 4) throw new FrameError("a truncated request frame");
      const headersLength = view.getUint32(offset + subjectEnd);
      const headersEnd = subjectEnd + 4 + headersLength;
      if (frame.length < headersEnd) throw new FrameError("a request frame whose headers overrun it");
      return {
        kind,
        id,
        subject: utf8Decoder.decode(frame.subarray(7, subjectEnd)),
        headers: frame.subarray(subjectEnd + 4, headersEnd),
        payload: frame.subarray(headersEnd),
      };
    }
    case FrameKind.reply: {
      if (frame.length < 9) throw new FrameError("a truncated reply frame");
      const headersLength = view.getUint32(offset + 5);
      const headersEnd = 9 + headersLength;
      if (frame.length < headersEnd) throw new FrameError("a reply frame whose headers overrun it");
      return {
        kind,
        id,
        subject: "",
        headers: frame.subarray(9, headersEnd),
        payload: frame.subarray(headersEnd),
      };
    }
    case FrameKind.refused:
    case FrameKind.goAway:
    case FrameKind.hello:
    case FrameKind.auth:
    case FrameKind.welcome:
      return { kind, id, subject: "", headers: EMPTY, payload: frame.subarray(5) };
    default:
      throw new FrameError(`a frame of unknown kind ${String(kind)}`);
  }
}

/** The NATS header block of `hdrs` (empty without headers), as nats.js puts it on the wire. */
export function encodeHeaders(hdrs: MsgHdrs | undefined): Uint8Array {
  return hdrs === undefined ? EMPTY : (hdrs as MsgHdrs & { encode(): Uint8Array }).encode();
}

/**
 * A frame as the NATS `Msg` the code that serves or reads NATS messages expects: a request (with
 * `respond` answering on its connection) or a reply. Headers are decoded on first use.
 */
export class FrameMsg implements Msg {
  readonly subject: string;
  readonly sid = 0;
  readonly reply: string;
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs;
  readonly #answer: ((payload: Uint8Array, hdrs: MsgHdrs | undefined) => boolean) | undefined;

  constructor(frame: Frame, answer?: (payload: Uint8Array, hdrs: MsgHdrs | undefined) => boolean) {
    this.subject = frame.subject;
    this.reply = answer === undefined ? "" : "direct";
    this.data = frame.payload;
    if (frame.headers.length > 0) this.headers = MsgHdrsImpl.decode(frame.headers);
    this.#answer = answer;
  }

  respond(payload?: Payload, opts?: PublishOptions): boolean {
    if (this.#answer === undefined) return false;
    const bytes =
      payload === undefined ? EMPTY : typeof payload === "string" ? utf8.encode(payload) : payload;
    return this.#answer(bytes, opts?.headers);
  }

  json<T>(reviver?: (this: unknown, key: string, value: unknown) => unknown): T {
    return JSON.parse(this.string(), reviver as never) as T;
  }

  string(): string {
    return utf8Decoder.decode(this.data);
  }
}
