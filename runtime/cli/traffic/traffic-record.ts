/**
 * One message of `troupe tail` and `troupe decode`, as a JSON record (`--json`) or one line for
 * people: when and where it passed, the headers worth seeing (its id, the trace id), and the body
 * decoded by the traffic decoder (runtime/inspect/traffic-decoder.ts) with the contracts the
 * running services publish. A message that does not decode is a record with `error`, not a
 * failure of the command: tail goes on.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { MsgHdrs } from "@nats-io/nats-core";
import type {
  DecodedDeadLetter,
  DecodedKind,
  DecodeOptions,
  TrafficDecoder,
} from "../../inspect/traffic-decoder.ts";
import { Header } from "../../protocol/headers.ts";
import { messageOf } from "./nats-target.ts";

/** A message as seen on the bus or read from a stream. */
export interface SeenMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  /** When it was published (a stream's timestamp) or seen (now). */
  readonly time: Date;
  /** Where a replayed message was stored. */
  readonly stream?: string | undefined;
  readonly seq?: number | undefined;
  /** For a reply: the subject of the request it answers. */
  readonly replyTo?: string | undefined;
}

export interface TrafficRecord {
  readonly time: string;
  readonly subject: string;
  readonly kind: DecodedKind | undefined;
  readonly type: string | undefined;
  readonly method: string | undefined;
  /** The message id: `Nats-Msg-Id`, or `troupe-msg-id` on a dead letter or redriven message. */
  readonly id: string | undefined;
  /** The trace id of its W3C `traceparent`. */
  readonly traceId: string | undefined;
  readonly stream: string | undefined;
  readonly seq: number | undefined;
  /** For a reply: the request subject it answers. */
  readonly replyTo: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: JsonValue | undefined;
  readonly deadLetter: DecodedDeadLetter | undefined;
  /** Why the body could not be decoded. */
  readonly error: string | undefined;
}

/** Decodes `message` (a reply when `replyTo` is set) into a record; never throws. */
export async function recordOf(
  decoder: TrafficDecoder,
  message: SeenMessage,
  options: Partial<DecodeOptions> = {},
): Promise<TrafficRecord> {
  const headers = headerRecord(message.headers);
  const base = {
    time: message.time.toISOString(),
    subject: message.replyTo ?? message.subject,
    id: headers[Header.messageId] ?? headers[Header.natsMsgId.toLowerCase()],
    traceId: traceIdOf(headers[Header.traceparent]),
    stream: message.stream,
    seq: message.seq,
    replyTo: message.replyTo === undefined ? undefined : message.subject,
    headers,
  };
  const response = options.response ?? message.replyTo !== undefined;
  try {
    const decoded = await decoder.decode(
      { subject: message.replyTo ?? message.subject, data: message.data, headers: message.headers },
      { response },
    );
    return {
      ...base,
      kind: decoded.kind,
      type: decoded.typeName,
      method: decoded.method,
      body: decoded.json,
      deadLetter: decoded.deadLetter,
      error: undefined,
    };
  } catch (err) {
    return {
      ...base,
      kind: response ? "response" : undefined,
      type: undefined,
      method: undefined,
      body: undefined,
      deadLetter: undefined,
      error: messageOf(err),
    };
  }
}

/** The record as one JSON line, its unset fields left out. */
export function recordJson(record: TrafficRecord): string {
  return JSON.stringify(record);
}

/** The record as one line for people: time, subject, type, ids, then the body or the error. */
export function recordLine(record: TrafficRecord): string {
  const time = record.time.slice(11, 23);
  const what =
    record.kind === "response" && record.replyTo !== undefined
      ? `${record.subject} (reply on ${record.replyTo})`
      : record.subject;
  const parts = [time, what];
  if (record.type !== undefined) parts.push(record.type);
  if (record.seq !== undefined) parts.push(`seq=${record.seq}`);
  if (record.traceId !== undefined) parts.push(`trace=${record.traceId}`);
  if (record.deadLetter !== undefined) {
    const dl = record.deadLetter;
    parts.push(`from ${dl.subject} (${dl.consumer}, ${dl.code} after ${dl.deliveryCount}: ${dl.error})`);
  }
  parts.push(record.error === undefined ? JSON.stringify(record.body) : `! ${record.error}`);
  return parts.join("  ");
}

/** The headers as a plain object, names in lower case, repeated values joined with ", ". */
export function headerRecord(hdrs: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (hdrs === undefined) return out;
  for (const [name, values] of hdrs) out[name.toLowerCase()] = values.join(", ");
  return out;
}

/** `4bf92f3577b34da6a3ce929d0e0e4736` of `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`. */
function traceIdOf(traceparent: string | undefined): string | undefined {
  const match = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent?.trim() ?? "");
  return match?.[1];
}
