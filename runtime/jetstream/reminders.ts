/**
 * Durable reminders of keyed actors (docs/adr/0032-keyed-virtual-actors.md): a reminder is
 * (service, key, name) → a time and a payload, kept and fired by JetStream message schedules (NATS
 * ADR-51, nats-server 2.12+), so it fires even when every process stopped in between.
 *
 * `set` stores a schedule message on `troupe.rem.<package>.<Service>.at.<key token>.<name>`
 * (runtime/protocol/subjects.ts) with `Nats-Schedule: @at <time>` and `Nats-Schedule-Target:
 * troupe.rem.<package>.<Service>.fire.<key token>.<name>`. When it is due, the stream itself
 * stores the body and headers on the target and removes the schedule. `consumeReminders` reads one
 * service's fired reminders with the delivery loop of events and jobs (consume.ts): acked once the
 * handler succeeded, nak'ed with backoff when it throws, dead-lettered after the last attempt.
 *
 * What nats-server 2.15.1 does, checked by tests/portable/reminders.test.ts:
 * - One schedule per subject: the server stores a schedule as a `Nats-Rollup: sub` message, so a
 *   second `set` of one name replaces the first without a per-subject limit or a purge.
 * - `@at` honours milliseconds, and the fired message is stored at the due millisecond, never
 *   before; a time already past fires at once; a schedule due while the server was down fires
 *   when it is back.
 * - Cancelling is a purge of the schedule's subject. `cancel` purges the fired subject in the same
 *   request (one filter, `….*.<key token>.<name>`), so a reminder that fired while no consumer ran
 *   is not delivered after its cancel either.
 * - The schedule's other headers are copied onto the fired message (`troupe-key` for per-key
 *   ordering, Header.reminderDue), plus `Nats-Scheduler` and `Nats-Schedule-Next: purge`.
 * - A target outside the stream is refused ("message schedules target is invalid"). Fired
 *   messages are stored, not published: a core NATS subscriber never sees them.
 *
 * Retention: a work queue. The stream holds schedules and fired reminders; the consumers' filters
 * cover only `….fire.*.*`, so a schedule stays until it fires (ADR-51 allows a work queue on that
 * condition), and a fired reminder is removed by its ack. The stream holds exactly what is
 * pending, with no delete per reminder. Limits retention would keep every fired reminder until
 * something deleted it; interest retention does not store a schedule no consumer is interested
 * in. The price: a work queue refuses a consumer whose filter overlaps another's ("filtered
 * consumer not unique on workqueue stream"), so tools read this stream by subject (`nats stream
 * get --last-for`), not through a consumer of their own. No max age: a reminder waits however far
 * ahead it is due (docs/adr/0017-facts-never-expire.md).
 *
 * The payload is stored as a `google.protobuf.BytesValue`, as every Troupe message body is
 * protobuf; the delivery loop decodes it like any job.
 */
import { create, type DescService, toBinary } from "@bufbuild/protobuf";
import { BytesValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos, headers as natsHeaders } from "@nats-io/nats-core";
import { createJsonLogger, type Logger } from "../observability/logger.ts";
import { Header } from "../protocol/headers.ts";
import {
  deadLetterStreamName,
  parseReminderFireSubject,
  reminderConsumerName,
  reminderFilter,
  reminderFireFilter,
  reminderFireSubject,
  reminderKeyToken,
  reminderScheduleSubject,
  reminderStreamName,
  reminderSubjectsOf,
} from "../protocol/subjects.ts";
import { consume, type RunningConsumer } from "./consume.ts";
import { type ConsumerSpec, defaultConsumerOptions, reconcileConsumer } from "./declare-consumers.ts";
import {
  DECLARATION_TIMEOUT_MS,
  deadLetterStream,
  reconcileStreams,
  retryDeclaration,
  type StreamSpec,
} from "./declare-streams.ts";
import { defaultReplicas } from "./default-replicas.ts";
import { isStreamNotFound, publishFailed } from "./jetstream-errors.ts";

/** A reminder that came due, as its handler gets it. */
export interface FiredReminder {
  /** The actor's key. */
  readonly key: string;
  readonly name: string;
  /** What `set` was given; empty without a payload. */
  readonly payload: Uint8Array;
  /** When it was due; it fired at that time or later, never before. */
  readonly dueAt: Date;
}

/** The reminders of one keyed service. */
export interface Reminders {
  /**
   * Sets reminder `name` of actor `key` to fire at `due` (a time, or milliseconds from now; a time
   * already past fires at once), replacing a reminder of that name that has not fired yet.
   * Resolves once the stream stored it. `invalid_argument` for a key or name that cannot name a
   * reminder (subjects.ts `reminderKeyToken`, `assertReminderName`) or an invalid time.
   */
  set(key: string, name: string, due: Date | number, payload?: Uint8Array): Promise<void>;
  /**
   * Removes reminder `name` of actor `key`: its schedule, and the reminder itself if it fired but
   * no handler took it yet; a handler already running it finishes. Resolves when there was none.
   */
  cancel(key: string, name: string): Promise<void>;
}

export interface ReminderOptions {
  /** Prefix of subjects and the stream name, for several systems in one NATS account. */
  readonly namespace: string;
  /** Copies of the stream in a cluster: 1, 3 or 5 (unset: the connection's default, default-replicas.ts). */
  readonly replicas: number;
}

export const defaultReminderOptions: ReminderOptions = { namespace: "", replicas: 1 };

/** The stream of a namespace's reminders: schedules and fired reminders, a work queue (see above). */
export function reminderStream(partial: Partial<ReminderOptions> = {}): StreamSpec {
  const { namespace, replicas } = { ...defaultReminderOptions, ...partial };
  return {
    name: reminderStreamName(namespace),
    description: "Troupe reminders of keyed actors (message schedules, NATS ADR-51)",
    subjects: [reminderFilter(namespace)],
    retention: RetentionPolicy.Workqueue,
    // The server refuses schedules with discard new ("message scheduling cannot use discard
    // new"); with no limits set, nothing is discarded either way.
    discard: DiscardPolicy.Old,
    storage: StorageType.File,
    num_replicas: replicas,
    // A max age would delete a schedule before it fires.
    max_age: 0,
    allow_msg_schedules: true,
  };
}

/**
 * Declares the reminder stream (idempotent; refused with `failed_precondition`, naming the
 * version, by a server older than 2.12) and returns the reminders of `service`.
 */
export async function openReminders(
  nc: NatsConnection,
  service: Pick<DescService, "typeName">,
  partial: Partial<ReminderOptions> = {},
): Promise<Reminders> {
  const options = resolve(nc, partial);
  const declarations = await jetstreamManager(nc, { timeout: DECLARATION_TIMEOUT_MS });
  await reconcileStreams(declarations, nc.info?.version ?? "", [reminderStream(options)]);
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const js = jetstream(nc);
  const stream = reminderStreamName(options.namespace);
  const { namespace } = options;
  return {
    async set(key, name, due, payload = new Uint8Array()) {
      const dueAt = dueTime(due);
      const [subject, target, token] = invalidArgument(() => [
        reminderScheduleSubject(service, key, name, namespace),
        reminderFireSubject(service, key, name, namespace),
        reminderKeyToken(key),
      ]);
      const hdrs = natsHeaders();
      hdrs.set(Header.key, token);
      hdrs.set(Header.reminderDue, String(dueAt.getTime()));
      const body = toBinary(BytesValueSchema, create(BytesValueSchema, { value: payload }));
      try {
        // Any past time fires at once; 1970 spares RFC 3339 the years before 0000 (written with a sign).
        const specification = new Date(Math.max(0, dueAt.getTime()));
        await js.publish(subject, body, { headers: hdrs, schedule: { specification, target } });
      } catch (err) {
        throw publishFailed(err, subject, body.length);
      }
    },
    async cancel(key, name) {
      const filter = invalidArgument(() => reminderSubjectsOf(service, key, name, namespace));
      try {
        await jsm.streams.purge(stream, { filter });
      } catch (err) {
        throw publishFailed(err, filter, 0);
      }
    },
  };
}

export interface ConsumeRemindersOptions extends ReminderOptions {
  /** Handlers running at once in this instance. */
  readonly concurrency: number;
  /** At most one reminder per key in flight in this instance, in the order they fired. */
  readonly perKeyOrdering: boolean;
  readonly logger: Logger;
}

export const defaultConsumeRemindersOptions: ConsumeRemindersOptions = {
  ...defaultReminderOptions,
  concurrency: 8,
  // An actor takes one turn at a time.
  perKeyOrdering: true,
  logger: createJsonLogger(),
};

/**
 * Runs `handle` for each reminder of `service` that comes due, shared by every instance that
 * calls this (one durable consumer per service, `reminders_<package>_<Service>`): acked once
 * `handle` resolves; when it throws, delivered again after a backoff, and dead-lettered
 * (`dlq.<stream>.<consumer>`) after the last attempt (consume.ts). A reminder that came due while
 * no instance ran is delivered when one starts. Declares the reminder stream, the dead letters
 * when missing, and the consumer. `signal` aborts when the consumer stops past its grace period.
 */
export async function consumeReminders(
  nc: NatsConnection,
  service: Pick<DescService, "typeName">,
  handle: (fired: FiredReminder, signal: AbortSignal) => Promise<void>,
  partial: Partial<ConsumeRemindersOptions> = {},
): Promise<RunningConsumer> {
  const options = { ...defaultConsumeRemindersOptions, ...resolve(nc, partial) };
  const { namespace, logger } = options;
  const jsm = await jetstreamManager(nc, { timeout: DECLARATION_TIMEOUT_MS });
  const version = nc.info?.version ?? "";
  const stream = reminderStreamName(namespace);
  await reconcileStreams(jsm, version, [reminderStream(options)]);
  await declareDeadLetters(jsm, version, options);
  const spec = reminderConsumer(service, namespace);
  const result = await retryDeclaration(() => reconcileConsumer(jsm, version, stream, spec));
  if (result.action !== "unchanged") {
    logger.log("info", `consumer ${result.action}`, {
      stream,
      consumer: result.name,
      changed: result.changed,
    });
  }
  return consume(
    nc,
    BytesValueSchema,
    { stream, consumer: spec.durable_name, kind: "job" },
    (message, meta) => {
      const reminder = parseReminderFireSubject(meta.subject, service, namespace);
      if (reminder === undefined) {
        // Not a subject set() makes (a hand-made publish): no retry can help.
        throw new ConnectError(`${meta.subject} is not a fired reminder`, Code.InvalidArgument);
      }
      const due = Number(meta.headers.get(Header.reminderDue) ?? Number.NaN);
      const dueAt = Number.isFinite(due) ? new Date(due) : meta.publishedAt;
      return handle({ ...reminder, payload: message.value, dueAt }, meta.signal);
    },
    {
      namespace,
      logger,
      concurrency: options.concurrency,
      perKeyOrdering: options.perKeyOrdering,
    },
  );
}

/** The durable consumer of one service's fired reminders; the defaults of events and jobs. */
function reminderConsumer(service: Pick<DescService, "typeName">, namespace: string): ConsumerSpec {
  const { ackWaitMs, maxAttempts, maxAckPending } = defaultConsumerOptions;
  return {
    durable_name: reminderConsumerName(service),
    description: `${service.typeName} handles its reminders`,
    filter_subject: reminderFireFilter(service, namespace),
    deliver_policy: DeliverPolicy.All,
    ack_policy: AckPolicy.Explicit,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(ackWaitMs),
    max_deliver: maxAttempts + 1,
    max_ack_pending: maxAckPending,
  };
}

/**
 * Creates the dead-letter stream when it is missing, and only then: an actor that has
 * subscriptions declares it with the system's stream options (a max age, say), which a second
 * declaration here would set back.
 */
async function declareDeadLetters(
  jsm: JetStreamManager,
  version: string,
  options: ReminderOptions,
): Promise<void> {
  try {
    await retryDeclaration(() => jsm.streams.info(deadLetterStreamName(options.namespace)));
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    await reconcileStreams(jsm, version, [deadLetterStream(options)]);
  }
}

function resolve<T extends Partial<ReminderOptions>>(nc: NatsConnection, partial: T): T & ReminderOptions {
  const options = {
    ...defaultReminderOptions,
    ...partial,
    replicas: partial.replicas ?? defaultReplicas(nc),
  };
  if (![1, 3, 5].includes(options.replicas)) {
    throw new RangeError(`replicas must be 1, 3 or 5, got ${options.replicas}`);
  }
  return options;
}

/** The due time of `set`: a Date, or milliseconds from now (rounded up: never early). */
function dueTime(due: Date | number): Date {
  const at = typeof due === "number" ? Math.ceil(Date.now() + due) : due.getTime();
  if (!Number.isFinite(at) || at >= RFC3339_END_MS) {
    throw new ConnectError(
      `a reminder's due time must be a valid time, got ${String(due)}`,
      Code.InvalidArgument,
    );
  }
  return new Date(at);
}

/** Year 10000: `@at` takes RFC 3339 times, whose years have four digits. */
const RFC3339_END_MS = 253_402_300_800_000;

/** Runs `build`; what it throws (a key or name that cannot stand in a subject) is `invalid_argument`. */
function invalidArgument<T>(build: () => T): T {
  try {
    return build();
  } catch (err) {
    throw new ConnectError(err instanceof Error ? err.message : String(err), Code.InvalidArgument);
  }
}
