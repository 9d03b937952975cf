/**
 * Publishing events and enqueueing jobs (docs/adr/0007-events-queues-and-dead-letters.md): a
 * binary protobuf body on `evt.<package>.<Message>.<key>` or `job.<package>.<Message>`, the id
 * in `Nats-Msg-Id` (the stream's duplicate window drops a republished id), the caller's metadata
 * as headers and, on a job whose producer asked for one, an absolute `troupe-deadline`. An event
 * never has one: it reports what happened, and a fact does not expire
 * (docs/adr/0017-facts-never-expire.md). Resolves once the stream has stored the message;
 * failures are ConnectErrors (jetstream-errors.ts).
 */
import { create, type DescMessage, getOption, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders, nuid } from "@nats-io/nats-core";
import { event as eventOption } from "../gen/troupe/v1/options_pb.ts";
import { tracePublish } from "../observability/tracing.ts";
import { Header } from "../protocol/headers.ts";
import { appendMetadata } from "../protocol/metadata.ts";
import { assertToken, eventSubject, jobSubject } from "../protocol/subjects.ts";
import { publishWithAck } from "./publish-ack.ts";

/**
 * Options of `publishEvent`, and what `enqueueJob` shares with it. There is no deadline here on
 * purpose: an event is a fact, and `publishEvent` refuses one (ADR 17).
 */
export interface PublishOptions {
  /**
   * Events: the key, one subject token (per-key ordering, filtering). Defaults to the field the
   * message's `(troupe.v1.event).key_field` option names. Jobs: an ordering key, sent as a header.
   */
  readonly key: string;
  /** The message id; a fresh NUID by default. The same id published again within the window is dropped. */
  readonly id: string;
  /** Metadata the handler sees in `meta.headers` (protocol headers are dropped). */
  readonly headers: HeadersInit;
  /** Prefix of every Troupe subject, for several systems in one NATS account. */
  readonly namespace: string;
  /** How long to wait for the stream's acknowledgement (nats.js default when unset). */
  readonly timeoutMs: number;
}

/** Options of `enqueueJob`: a job may expire, when its producer says so. */
export interface EnqueueOptions extends PublishOptions {
  /**
   * Milliseconds from now after which the job is dead-lettered (`deadline_exceeded`) instead of
   * handled, and its running handler's signal aborted. Unset (the default): it never expires.
   */
  readonly deadlineMs: number;
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
  if ((options as Partial<EnqueueOptions>).deadlineMs !== undefined) {
    // The type has no deadline; a caller without types (or spreading a job's options) gets told,
    // rather than having a deadline silently dropped or, worse, kept.
    return Promise.reject(
      new ConnectError(
        "an event never expires, so it takes no deadlineMs (docs/adr/0017-facts-never-expire.md); " +
          "a deadline belongs on a job",
        Code.InvalidArgument,
      ),
    );
  }
  const message = create(schema, init);
  const key = options.key ?? keyFieldOf(schema, message as unknown as Record<string, unknown>);
  let subject: string;
  try {
    subject = eventSubject(schema, key, options.namespace);
  } catch (err) {
    return Promise.reject(new ConnectError(String((err as Error).message), Code.InvalidArgument));
  }
  return publish(js, subject, toBinary(schema, message), options, undefined, undefined);
}

/** Enqueues a job; exactly one consumer takes it. */
export function enqueueJob<Desc extends DescMessage>(
  js: JetStreamClient,
  schema: Desc,
  init: MessageInitShape<Desc>,
  options: Partial<EnqueueOptions> = {},
): Promise<PublishAck> {
  const message = create(schema, init);
  let subject: string;
  try {
    if (options.key !== undefined) assertToken(options.key, "job key");
    subject = jobSubject(schema, options.namespace);
  } catch (err) {
    return Promise.reject(new ConnectError(String((err as Error).message), Code.InvalidArgument));
  }
  return publish(js, subject, toBinary(schema, message), options, options.key, options.deadlineMs);
}

async function publish(
  js: JetStreamClient,
  subject: string,
  body: Uint8Array,
  options: Partial<PublishOptions>,
  jobKey: string | undefined,
  deadlineMs: number | undefined,
): Promise<PublishAck> {
  const id = options.id ?? nuid.next();
  if (id === "") throw new ConnectError("a message id cannot be empty", Code.InvalidArgument);
  const hdrs = natsHeaders();
  if (options.headers !== undefined) appendMetadata(hdrs, new Headers(options.headers));
  if (deadlineMs !== undefined) {
    if (!(deadlineMs > 0)) {
      throw new ConnectError(`deadlineMs must be > 0, got ${deadlineMs}`, Code.InvalidArgument);
    }
    hdrs.set(Header.deadline, String(Date.now() + Math.ceil(deadlineMs)));
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
