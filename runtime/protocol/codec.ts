/**
 * Message codecs on the wire: binary protobuf by default, Connect's JSON mapping on request.
 * A payload without a content type is binary unless it looks like a JSON object, which is what
 * `nats req subject '{"id":"u1"}'` sends; the reply then uses JSON too. No proto3 message starts
 * with the byte `{` (0x7b would be a group start tag for field 15, and proto3 has no groups).
 */
import {
  type DescMessage,
  fromBinary,
  fromJsonString,
  type JsonReadOptions,
  type JsonWriteOptions,
  type MessageShape,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ContentType } from "./headers.ts";

export type Codec = "proto" | "json";

export interface CodecOptions {
  readonly jsonRead: Partial<JsonReadOptions>;
  readonly jsonWrite: Partial<JsonWriteOptions>;
}

export const defaultCodecOptions: CodecOptions = {
  // The protobuf JSON spec: parsers reject unknown fields unless told otherwise, so a typo in
  // a hand-written request is an error, not a silently empty field.
  jsonRead: { ignoreUnknownFields: false },
  jsonWrite: {},
};

const OPEN_BRACE = 0x7b;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The codec a request asks for; undefined for a content type Troupe does not speak. */
export function codecOf(contentType: string | undefined, body: Uint8Array): Codec | undefined {
  if (contentType === undefined || contentType === "") return looksLikeJson(body) ? "json" : "proto";
  const essence = contentType.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  switch (essence) {
    case ContentType.proto:
    case "application/protobuf":
    case "application/x-protobuf":
      return "proto";
    case ContentType.json:
      return "json";
    default:
      return undefined;
  }
}

export function contentTypeOf(codec: Codec): string {
  return codec === "json" ? ContentType.json : ContentType.proto;
}

function looksLikeJson(body: Uint8Array): boolean {
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    // skip JSON white space: space, tab, line feed, carriage return
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === OPEN_BRACE;
  }
  return false;
}

/** Decodes a message; malformed input is `invalid_argument` naming the type and the codec. */
export function decodeMessage<Desc extends DescMessage>(
  desc: Desc,
  codec: Codec,
  bytes: Uint8Array,
  options: CodecOptions = defaultCodecOptions,
): MessageShape<Desc> {
  try {
    if (codec === "proto") return fromBinary(desc, bytes);
    return fromJsonString(desc, decoder.decode(bytes), options.jsonRead);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConnectError(
      `cannot decode ${desc.typeName} from ${codec === "proto" ? "binary protobuf" : "JSON"}: ${why}`,
      Code.InvalidArgument,
    );
  }
}

export function encodeMessage<Desc extends DescMessage>(
  desc: Desc,
  codec: Codec,
  message: MessageShape<Desc>,
  options: CodecOptions = defaultCodecOptions,
): Uint8Array {
  if (codec === "proto") return toBinary(desc, message);
  return encoder.encode(toJsonString(desc, message, options.jsonWrite));
}
