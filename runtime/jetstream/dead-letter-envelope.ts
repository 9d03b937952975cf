/**
 * The shape of a dead letter on `dlq.<stream>.<consumer>` (docs/adr/0007-events-queues-and-dead-
 * letters.md): the original body unchanged, the original headers (without JetStream's own
 * `Nats-*` headers; the message id moves to `troupe-msg-id`), and `troupe-dlq-*` headers saying
 * where it came from, why it was given up, and after how many deliveries. Built and read here only.
 */
import { Code } from "@connectrpc/connect";
import { codeFromString, codeToString } from "@connectrpc/connect/protocol-connect";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/nats-core";
import { DEAD_LETTER_HEADER_PREFIX, Header, NATS_HEADER_PREFIX } from "../protocol/headers.ts";

/** Where a dead letter came from and why it was given up. */
export interface DeadLetterOrigin {
  readonly subject: string;
  readonly stream: string;
  readonly seq: number;
  readonly consumer: string;
  /** The message's own id (not the dead letter's). */
  readonly id: string;
  readonly code: Code;
  readonly error: string;
  readonly deliveryCount: number;
  readonly publishedAt: Date;
}

/** The Nats-Msg-Id of a dead letter: the same delivery dead-lettered twice is stored once. */
export function deadLetterMsgId(origin: Pick<DeadLetterOrigin, "stream" | "seq" | "consumer">): string {
  return `dlq.${origin.stream}.${origin.seq}.${origin.consumer}`;
}

/** The headers of a dead letter of a message that had `original` headers. */
export function deadLetterHeaders(original: MsgHdrs | undefined, origin: DeadLetterOrigin): MsgHdrs {
  const hdrs = copyHeaders(original, (name) => !isJetStreamHeader(name) && !isDeadLetterHeader(name));
  hdrs.set(Header.messageId, origin.id);
  hdrs.set(Header.deadLetterSubject, origin.subject);
  hdrs.set(Header.deadLetterStream, origin.stream);
  hdrs.set(Header.deadLetterSeq, String(origin.seq));
  hdrs.set(Header.deadLetterConsumer, origin.consumer);
  hdrs.set(Header.deadLetterCode, codeToString(origin.code));
  hdrs.set(Header.deadLetterError, origin.error.replace(/[\r\n]+/g, " "));
  hdrs.set(Header.deadLetterDeliveries, String(origin.deliveryCount));
  hdrs.set(Header.deadLetterPublished, origin.publishedAt.toISOString());
  return hdrs;
}

/** Reads the origin back from a dead letter's headers; undefined when they do not describe one. */
export function readDeadLetterOrigin(hdrs: MsgHdrs | undefined): DeadLetterOrigin | undefined {
  const get = (name: string) => {
    const value = hdrs?.get(name) ?? "";
    return value === "" ? undefined : value;
  };
  const subject = get(Header.deadLetterSubject);
  const stream = get(Header.deadLetterStream);
  const consumer = get(Header.deadLetterConsumer);
  if (subject === undefined || stream === undefined || consumer === undefined) return undefined;
  return {
    subject,
    stream,
    seq: Number(get(Header.deadLetterSeq) ?? 0),
    consumer,
    id: get(Header.messageId) ?? "",
    code: codeFromString(get(Header.deadLetterCode) ?? "") ?? Code.Unknown,
    error: get(Header.deadLetterError) ?? "",
    deliveryCount: Number(get(Header.deadLetterDeliveries) ?? 0),
    publishedAt: new Date(get(Header.deadLetterPublished) ?? 0),
  };
}

/** The headers a redriven message is published with: the original ones, dead-letter ones removed. */
export function redriveHeaders(deadLetter: MsgHdrs | undefined, dropDeadline: boolean): MsgHdrs {
  return copyHeaders(
    deadLetter,
    (name) =>
      !isJetStreamHeader(name) &&
      !isDeadLetterHeader(name) &&
      !(dropDeadline && name.toLowerCase() === Header.deadline),
  );
}

function copyHeaders(from: MsgHdrs | undefined, keep: (name: string) => boolean): MsgHdrs {
  const to = natsHeaders();
  if (from === undefined) return to;
  for (const [name, values] of from) {
    if (!keep(name)) continue;
    for (const value of values) to.append(name, value);
  }
  return to;
}

/** JetStream's own headers (`Nats-Msg-Id`, `Nats-Expected-*`, …) never travel on. */
function isJetStreamHeader(name: string): boolean {
  return name.toLowerCase().startsWith(NATS_HEADER_PREFIX);
}

function isDeadLetterHeader(name: string): boolean {
  return name.toLowerCase().startsWith(DEAD_LETTER_HEADER_PREFIX);
}
