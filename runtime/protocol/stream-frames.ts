/**
 * Stream frames: the NATS messages that make up one streaming call (server, client or bidi
 * streaming). docs/adr/0006-rpc-streams.md is the protocol; this module is the only place that writes
 * and reads frames, as pure functions. Putting them on a connection (call inboxes, publishing)
 * is runtime/nats/call-inbox.ts; the flow control both ends share lives in runtime/streams/.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { headers, type Msg, type MsgHdrs } from "@nats-io/nats-core";
import { decodeErrorReply, encodeErrorReply } from "./errors.ts";
import { ContentType, Header, StreamFrame, TRAILER_PREFIX } from "./headers.ts";
import { appendMetadata, metadataOf, natsHeader } from "./metadata.ts";

/**
 * The first frame of each side. The client's opener goes to the method subject and carries the
 * request metadata (and, for server streaming, the one request message); the server's answers
 * from its call inbox. `credit`: messages the sender of this frame is ready to receive.
 */
export interface OpenFrame {
  readonly kind: typeof StreamFrame.open;
  readonly credit: number;
  readonly header?: Headers | undefined;
  readonly timeoutMs?: number | undefined;
  readonly contentType?: string | undefined;
  readonly data?: Uint8Array | undefined;
}

/** One message, numbered from 1 per direction. The server's first carries the response headers. */
export interface MessageFrame {
  readonly kind: typeof StreamFrame.message;
  readonly seq: number;
  readonly data: Uint8Array;
  readonly header?: Headers | undefined;
}

/**
 * The sender is done after `seq` messages: the client half-closes; the server ends the call with
 * its trailers or error (and its response headers when it sent no message). `seq` is undefined
 * only for a plain error reply, with which a host refuses a call before it becomes a stream.
 */
export interface EndFrame {
  readonly kind: typeof StreamFrame.end;
  readonly seq: number | undefined;
  readonly header?: Headers | undefined;
  readonly trailer?: Headers | undefined;
  readonly error?: ConnectError | undefined;
}

/** The receiver is ready for `credit` more messages. */
export interface CreditFrame {
  readonly kind: typeof StreamFrame.credit;
  readonly credit: number;
}

export interface CancelFrame {
  readonly kind: typeof StreamFrame.cancel;
}

export interface PingFrame {
  readonly kind: typeof StreamFrame.ping;
}

export type Frame = OpenFrame | MessageFrame | EndFrame | CreditFrame | CancelFrame | PingFrame;

const EMPTY = new Uint8Array(0);
const COUNT = /^\d{1,15}$/;

/** The NATS headers and payload of a frame. */
export function encodeFrame(frame: Frame): { readonly headers: MsgHdrs; readonly data: Uint8Array } {
  const hdrs = headers();
  hdrs.set(Header.frame, frame.kind);
  switch (frame.kind) {
    case StreamFrame.open:
      hdrs.set(Header.credit, String(frame.credit));
      if (frame.timeoutMs !== undefined) hdrs.set(Header.timeoutMs, String(frame.timeoutMs));
      if (frame.contentType !== undefined) hdrs.set(Header.contentType, frame.contentType);
      appendMetadata(hdrs, frame.header, "");
      return { headers: hdrs, data: frame.data ?? EMPTY };
    case StreamFrame.message:
      hdrs.set(Header.seq, String(frame.seq));
      appendMetadata(hdrs, frame.header, "");
      return { headers: hdrs, data: frame.data };
    case StreamFrame.end: {
      if (frame.seq !== undefined) hdrs.set(Header.seq, String(frame.seq));
      appendMetadata(hdrs, frame.header, "");
      appendMetadata(hdrs, frame.trailer, TRAILER_PREFIX);
      if (frame.error === undefined) return { headers: hdrs, data: EMPTY };
      const reply = encodeErrorReply(frame.error);
      hdrs.set(Header.serviceErrorCode, String(reply.status));
      hdrs.set(Header.serviceError, reply.description);
      hdrs.set(Header.contentType, ContentType.json);
      return { headers: hdrs, data: reply.body };
    }
    case StreamFrame.credit:
      hdrs.set(Header.credit, String(frame.credit));
      return { headers: hdrs, data: EMPTY };
    default:
      return { headers: hdrs, data: EMPTY };
  }
}

/**
 * The frame a NATS message carries. A malformed frame is `invalid_argument` saying what is wrong.
 * Metadata is read only for `end` frames (and their error); a receiver that wants the response
 * headers of the first message frame reads them with `metadataOf`.
 */
export function decodeFrame(msg: Pick<Msg, "headers" | "data">): Frame {
  const hdrs = msg.headers;
  const kind = hdrs?.get(Header.frame) ?? "";
  if (hdrs === undefined || kind === "") {
    // A plain error reply: the host refused the call before it became a stream.
    if (hdrs !== undefined && natsHeader(hdrs, Header.serviceErrorCode) !== undefined) {
      return endFrame(hdrs, msg.data, undefined);
    }
    throw new ConnectError(`not a stream frame: no ${Header.frame} header`, Code.InvalidArgument);
  }
  switch (kind) {
    case StreamFrame.message:
      return { kind, seq: count(hdrs, kind, Header.seq, 1), data: msg.data };
    case StreamFrame.credit:
      return { kind, credit: count(hdrs, kind, Header.credit, 1) };
    case StreamFrame.open:
      return { kind, credit: count(hdrs, kind, Header.credit, 0) };
    case StreamFrame.end:
      return endFrame(hdrs, msg.data, count(hdrs, kind, Header.seq, 0));
    case StreamFrame.cancel:
    case StreamFrame.ping:
      return { kind };
    default:
      throw new ConnectError(`unknown stream frame "${kind}"`, Code.InvalidArgument);
  }
}

function endFrame(hdrs: MsgHdrs, data: Uint8Array, seq: number | undefined): EndFrame {
  const { header, trailer } = metadataOf(hdrs);
  const status = natsHeader(hdrs, Header.serviceErrorCode);
  if (status === undefined) return { kind: StreamFrame.end, seq, header, trailer };
  const metadata = new Headers(header);
  trailer.forEach((value, name) => {
    metadata.append(name, value);
  });
  const error = decodeErrorReply(status, natsHeader(hdrs, Header.serviceError), data, metadata);
  return { kind: StreamFrame.end, seq, header, trailer, error };
}

function count(hdrs: MsgHdrs, kind: string, name: string, min: number): number {
  const text = hdrs.get(name);
  const value = COUNT.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min)) {
    throw new ConnectError(
      `stream frame "${kind}" needs ${name} as an integer >= ${min}, got "${text}"`,
      Code.InvalidArgument,
    );
  }
  return value;
}
