/**
 * HTTP/2 frames written by hand (RFC 9113 §4.1, §6; HPACK literals of RFC 7541 §6.2), for tests
 * that must send what no well-behaved client sends: garbage frames, broken HPACK, floods of
 * streams and resets. Only what those tests need: no Huffman coding, no dynamic table.
 */
import { Buffer } from "node:buffer";

/** The client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = {
  data: 0x0,
  headers: 0x1,
  priority: 0x2,
  rstStream: 0x3,
  settings: 0x4,
  pushPromise: 0x5,
  ping: 0x6,
  goaway: 0x7,
  windowUpdate: 0x8,
  continuation: 0x9,
} as const;

export const Flag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;

/** One frame: a 9-byte header (24-bit length, type, flags, 31-bit stream id) and its payload. */
export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array()) {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  out.set(payload, 9);
  return out;
}

/** A SETTINGS frame with the given (id, value) pairs; an empty one is the usual first frame. */
export function settings(pairs: [number, number][] = []): Buffer {
  const payload = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.settings, 0, 0, payload);
}

/** An HPACK integer with an `n`-bit prefix whose high bits are `first` (RFC 7541 §5.1). */
function hpackInteger(value: number, n: number, first: number): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(text: string): number[] {
  const bytes = [...Buffer.from(text, "latin1")];
  return [...hpackInteger(bytes.length, 7, 0), ...bytes];
}

/** A header block of literals without indexing, new names (RFC 7541 §6.2.2): no table state. */
export function headerBlock(headers: [string, string][]): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) out.push(0x00, ...hpackString(name), ...hpackString(value));
  return Buffer.from(out);
}

/** The pseudo-headers of a request, then `extra`. */
export function requestHeaders(
  method: string,
  path: string,
  extra: [string, string][] = [],
): [string, string][] {
  return [[":method", method], [":scheme", "http"], [":authority", "localhost"], [":path", path], ...extra];
}

/** A HEADERS frame carrying a whole header block. */
export function headersFrame(streamId: number, headers: [string, string][], endStream: boolean): Buffer {
  return frame(
    FrameType.headers,
    Flag.endHeaders | (endStream ? Flag.endStream : 0),
    streamId,
    headerBlock(headers),
  );
}

export function dataFrame(streamId: number, payload: Uint8Array, endStream: boolean): Buffer {
  return frame(FrameType.data, endStream ? Flag.endStream : 0, streamId, payload);
}

/** RST_STREAM with CANCEL (0x8). */
export function rstStream(streamId: number, code = 0x8): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code, 0);
  return frame(FrameType.rstStream, 0, streamId, payload);
}

/** A gRPC / Connect streaming envelope: flags, 32-bit length, message (the length may lie). */
export function envelope(message: Uint8Array, declaredLength = message.length, flags = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flags;
  out.writeUInt32BE(declaredLength, 1);
  out.set(message, 5);
  return out;
}

/** Reads the frames of `bytes` that are complete; returns them and the bytes left over. */
export function parseFrames(bytes: Buffer): {
  frames: { type: number; flags: number; streamId: number; payload: Buffer }[];
  rest: Buffer;
} {
  const frames: { type: number; flags: number; streamId: number; payload: Buffer }[] = [];
  let at = 0;
  while (bytes.length - at >= 9) {
    const length = bytes.readUIntBE(at, 3);
    if (bytes.length - at < 9 + length) break;
    frames.push({
      type: bytes[at + 3] as number,
      flags: bytes[at + 4] as number,
      streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return { frames, rest: bytes.subarray(at) };
}
