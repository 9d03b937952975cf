/**
 * Publishing events and enqueueing jobs (docs/adr/0007-events-queues-and-dead-letters.md): a
 * binary protobuf body on `evt.<package>.<Message>.<key>` or `job.<package>.<Message>`, the id
 * in `Nats-Msg-Id` (the stream's duplicate window drops a republished id), an optional absolute
 * `troupe-deadline`, and the caller's metadata as headers. Resolves once the stream has stored
 * the message; failures are ConnectErrors (jetstream-errors.ts).
 */
import { create, type DescMessage, getOption, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders, nuid } from "@nats-io/nats-core";
import { event as eventOption } from "../../proto/gen/troupe/v1/options_pb.ts";
import { tracePublish } from "../observability/tracing.ts";
import { Header } from "../protocol/headers.ts";
import { appendMetadata } from "../protocol/metadata.ts";
import { assertToken, eventSubject, jobSubject } from "../protocol/subjects.ts";
import { publishWithAck } from "./publish-ack.ts";

export interface PublishOptions {
  /**
   * Events: the key, one subject token (per-key ordering, filtering). Defaults to the field the
   * message's `(troupe.v1.event).key_field` option names. Jobs: an ordering key, sent as a header.
   */
  readonly key: string;
  /** The message id; a fresh NUID by default. The same id published again within the window is dropped. */
  readonly id: string;
  /** Milliseconds from now after which the message is dead-lettered instead of handled. */
  readonly deadlineMs: number;
  /** Metadata the handler sees in `meta.headers` (protocol headers are dropped). */
  readonly headers: HeadersInit;
  /** Prefix of every Troupe subject, for several systems in one NATS account. */
  readonly namespace: string;
  /** How long to wait for the stream's acknowledgement (nats.js default when unset). */
  readonly timeoutMs: number;
}

/** The stream's acknowledgement. */
export interface PublishAck {
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already held a message with this id (nothing was added). */
  readonly duplicate: boolean;
  /** The message id that was sent. */
  readonly id: string;
}

/** Publishes an event; every subscribing service gets it. */
export function publishEvent<Desc extends DescMessage>(
  js: JetStreamClient,
  schema: Desc,
  init: MessageInitShape<Desc>,
  options: Partial<PublishOptions> = {},
): Promise<PublishAck> {
  const message = create(schema, init);
  const key = options.key ?? keyFieldOf(schema, message as unknown as Record<string, unknown>);
  let subject: string;
  try {
    subject = eventSubject(schema, key, options.namespace);
  } catch (err) {
    return Promise.reject(new ConnectError(String((err as Error).message), Code.InvalidArgument));
  }
  return publish(js, subject, toBinary(schema, message), options, undefined);
}

/** Enqueues a job; exactly one consumer takes it. */
export function enqueueJob<Desc extends DescMessage>(
  js: JetStreamClient,
  schema: Desc,
  init: MessageInitShape<Desc>,
  options: Partial<PublishOptions> = {},
): Promise<PublishAck> {
  const message = create(schema, init);
  let subject: string;
  try {
    if (options.key !== undefined) assertToken(options.key, "job key");
    subject = jobSubject(schema, options.namespace);
  } catch (err) {
    return Promise.reject(new ConnectError(String((err as Error).message), Code.InvalidArgument));
  }
  return publish(js, subject, toBinary(schema, message), options, options.key);
}

async function publish(
  js: JetStreamClient,
  subject: string,
  body: Uint8Array,
  options: Partial<PublishOptions>,
  jobKey: string | undefined,
): Promise<PublishAck> {
  const id = options.id ?? nuid.next();
  if (id === "") throw new ConnectError("a message id cannot be empty", Code.InvalidArgument);
  const hdrs = natsHeaders();
  if (options.headers !== undefined) appendMetadata(hdrs, new Headers(options.headers));
  if (options.deadlineMs !== undefined) {
    if (!(options.deadlineMs > 0)) {
      throw new ConnectError(`deadlineMs must be > 0, got ${options.deadlineMs}`, Code.InvalidArgument);
    }
    hdrs.set(Header.deadline, String(Date.now() + Math.ceil(options.deadlineMs)));
  }
  if (jobKey !== undefined) hdrs.set(Header.key, jobKey);
  // Last, as nats.js's own `msgID` option sets it: it replaces any metadata of the same name.
  hdrs.set(Header.natsMsgId, id);
  // A producer span whose context travels in the headers, when tracing is on (ADR 0014).
  const ack = await tracePublish(subject, id, hdrs, () =>
    publishWithAck(js, subject, body, hdrs, options.timeoutMs),
  );
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate, id };
}

/** The local (TypeScript) name of each event message's key field; null without one. */
const keyFields = new WeakMap<DescMessage, string | null>();

/** The value of the field `(troupe.v1.event).key_field` names, or "" without one. */
function keyFieldOf(schema: DescMessage, message: Record<string, unknown>): string {
  let localName = keyFields.get(schema);
  if (localName === undefined) {
    const fieldName = getOption(schema, eventOption).keyField;
    const field = fieldName === "" ? undefined : schema.fields.find((f) => f.name === fieldName);
    localName = field?.fieldKind === "scalar" ? field.localName : null;
    keyFields.set(schema, localName);
  }
  if (localName === null) return "";
  const value = message[localName];
  return typeof value === "string" ? value : "";
}
