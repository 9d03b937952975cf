/**
 * Operating the dead-letter stream (docs/adr/0007-events-queues-and-dead-letters.md): list what
 * consumers gave up on, with why and after how many deliveries; redrive a dead letter once the
 * cause is fixed (republished to its original subject with its original headers and its own id,
 * under a fresh Nats-Msg-Id so the duplicate window lets it through, then removed from `DLQ`);
 * or delete it. What the CLI and the dashboard build on.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";
import { DEAD_LETTER_HEADER_PREFIX, Header, NATS_HEADER_PREFIX } from "../protocol/headers.ts";
import { deadLetterStreamName, deadLetterSubjectFilter } from "../protocol/subjects.ts";
import { type DeadLetterOrigin, readDeadLetterOrigin, redriveHeaders } from "./dead-letter-envelope.ts";
import { publishFailed } from "./jetstream-errors.ts";
import type { PublishAck } from "./publish.ts";

/** A dead letter, decoded from its envelope. */
export interface DeadLetter extends DeadLetterOrigin {
  /** Its sequence in the dead-letter stream: what `redriveDeadLetter` and `deleteDeadLetter` take. */
  readonly deadLetterSeq: number;
  /** When it was dead-lettered. */
  readonly deadAt: Date;
  /** The original headers (the publisher's metadata and Troupe's own, like `troupe-deadline`). */
  readonly headers: Headers;
  /** The original body, unchanged. */
  readonly body: Uint8Array;
}

export interface ListDeadLettersOptions {
  readonly namespace: string;
  /** Only dead letters of this stream. */
  readonly stream: string | undefined;
  /** Only dead letters of this consumer. */
  readonly consumer: string | undefined;
  /** At most this many, oldest first. */
  readonly limit: number;
  /** Start at this dead-letter sequence (for paging: the last one seen + 1). */
  readonly fromSeq: number;
}

export const defaultListDeadLettersOptions: ListDeadLettersOptions = {
  namespace: "",
  stream: undefined,
  consumer: undefined,
  limit: 100,
  fromSeq: 1,
};

export async function listDeadLetters(
  jsm: JetStreamManager,
  partial: Partial<ListDeadLettersOptions> = {},
): Promise<DeadLetter[]> {
  const options = { ...defaultListDeadLettersOptions, ...partial };
  const stream = deadLetterStreamName(options.namespace);
  const filter = deadLetterSubjectFilter(options.stream, options.consumer, options.namespace);
  const found: DeadLetter[] = [];
  // Direct get of the next message on the filter, sequence by sequence: no consumer to clean up.
  for (let seq = Math.max(1, options.fromSeq); found.length < options.limit; ) {
    const stored = await jsm.direct.getMessage(stream, { seq, next_by_subj: filter });
    if (stored === null) break;
    const letter = deadLetterOf(stored);
    if (letter !== undefined) found.push(letter);
    seq = stored.seq + 1;
  }
  return found;
}

export interface RedriveOptions {
  readonly namespace: string;
  /** Publish without the original `troupe-deadline` (a dead letter whose deadline passed). */
  readonly dropDeadline: boolean;
}

/**
 * Republishes dead letter `deadLetterSeq` to its original subject, then deletes it. A redrive
 * repeated within the duplicate window publishes once. An event reaches every subscribing
 * service again; with the idempotency guard, those that had handled it skip it (same own id).
 */
export async function redriveDeadLetter(
  js: JetStreamClient,
  jsm: JetStreamManager,
  deadLetterSeq: number,
  partial: Partial<RedriveOptions> = {},
): Promise<PublishAck> {
  const stream = deadLetterStreamName(partial.namespace ?? "");
  const stored = await jsm.streams.getMessage(stream, { seq: deadLetterSeq });
  if (stored === null) {
    throw new ConnectError(`${stream} has no dead letter ${deadLetterSeq}`, Code.NotFound);
  }
  const origin = readDeadLetterOrigin(stored.header);
  if (origin === undefined) {
    throw new ConnectError(
      `${stream} message ${deadLetterSeq} is not a dead letter`,
      Code.FailedPrecondition,
    );
  }
  const hdrs = redriveHeaders(stored.header, partial.dropDeadline ?? false);
  if (origin.id !== "") hdrs.set(Header.messageId, origin.id);
  const msgID = `redrive.${stream}.${deadLetterSeq}`;
  let ack: PublishAck;
  try {
    const pubAck = await js.publish(origin.subject, stored.data, { msgID, headers: hdrs });
    ack = { stream: pubAck.stream, seq: pubAck.seq, duplicate: pubAck.duplicate, id: origin.id };
  } catch (err) {
    throw publishFailed(err, origin.subject, stored.data.byteLength);
  }
  await jsm.streams.deleteMessage(stream, deadLetterSeq, false);
  return ack;
}

/** Deletes dead letter `deadLetterSeq`; false when there was none. */
export async function deleteDeadLetter(
  jsm: JetStreamManager,
  deadLetterSeq: number,
  namespace = "",
): Promise<boolean> {
  try {
    return await jsm.streams.deleteMessage(deadLetterStreamName(namespace), deadLetterSeq, false);
  } catch (err) {
    if (err instanceof Error && /no message found/i.test(err.message)) return false;
    throw err;
  }
}

function deadLetterOf(stored: StoredMsg): DeadLetter | undefined {
  const origin = readDeadLetterOrigin(stored.header);
  if (origin === undefined) return undefined;
  return {
    ...origin,
    deadLetterSeq: stored.seq,
    deadAt: stored.time,
    headers: originalHeaders(stored.header),
    body: stored.data,
  };
}

function originalHeaders(hdrs: MsgHdrs): Headers {
  const out = new Headers();
  for (const [name, values] of hdrs) {
    const lower = name.toLowerCase();
    if (lower.startsWith(DEAD_LETTER_HEADER_PREFIX) || lower.startsWith(NATS_HEADER_PREFIX)) continue;
    for (const value of values) out.append(lower, value);
  }
  return out;
}
