/**
 * The delivery loop of docs/adr/0007-events-queues-and-dead-letters.md for one durable pull
 * consumer. Each message is decoded (bad bytes go straight to the dead letters), checked against
 * its deadline (jobs only: an event never expires, docs/adr/0017-facts-never-expire.md) and the
 * idempotency guard, handled while `working()` keeps it ours, then acked; a failure is nak'ed
 * with exponential backoff until the last allowed attempt, which dead-letters it. Handlers run at
 * most `concurrency` at a time, optionally one per key, and the instance holds at most
 * `concurrency + bufferSize` messages, so a slow consumer leaves the rest in the stream.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { millis, type NatsConnection } from "@nats-io/nats-core";
import { createJsonLogger, errorFields, type Logger } from "../observability/logger.ts";
import { traceDelivery } from "../observability/tracing.ts";
import { type CodecOptions, codecOf, decodeMessage, defaultCodecOptions } from "../protocol/codec.ts";
import { Header } from "../protocol/headers.ts";
import { pickHeaders } from "../protocol/metadata.ts";
import { deadLetterSubject, eventKeyOf, JS_API_PREFIX } from "../protocol/subjects.ts";
import { createAckBatch } from "./ack-batch.ts";
import { type ConsumerStatsSnapshot, createConsumerStats } from "./consumer-stats.ts";
import { deadLetterHeaders, deadLetterMsgId } from "./dead-letter-envelope.ts";
import { maxAttemptsOf } from "./declare-consumers.ts";
import { Delivery, DeliveryMeta, type MessageMeta } from "./delivery.ts";
import type { IdempotencyGuard } from "./idempotency-guard.ts";
import { createConcurrencyLimit, createKeyLanes } from "./key-lanes.ts";
import { defaultPullTiming, pullMessages } from "./pull-messages.ts";
import type { PulledMessage } from "./pulled-message.ts";

export type { ConsumerLagSnapshot, ConsumerStatsSnapshot } from "./consumer-stats.ts";
export type { MessageMeta } from "./delivery.ts";

export type MessageHandler<Desc extends DescMessage> = (
  message: MessageShape<Desc>,
  meta: MessageMeta,
) => Promise<void> | void;

/** The durable consumer to read, and whether its messages are events (keyed by subject) or jobs. */
export interface ConsumeTarget {
  readonly stream: string;
  readonly consumer: string;
  readonly kind: "event" | "job";
}

export interface ConsumeOptions {
  /** Prefix of every Troupe subject (the dead letters' subject). */
  readonly namespace: string;
  /** Handlers running at once in this instance. */
  readonly concurrency: number;
  /**
   * Messages pulled ahead of the handlers, at most: the loop holds at most `concurrency +
   * bufferSize` messages and asks JetStream for no more (pull-messages.ts). With slow handlers it
   * pulls ahead only what its handler slots will start within about a second.
   */
  readonly bufferSize: number;
  /** At most one message per key in flight in this instance, in the order they arrived. */
  readonly perKeyOrdering: boolean;
  /** Skips messages already handled (see idempotency-guard.ts); off when undefined. */
  readonly idempotencyGuard: IdempotencyGuard | undefined;
  /** The first retry's delay; each further retry doubles it, up to `maxRetryDelayMs`. */
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly codecOptions: CodecOptions;
  readonly logger: Logger;
}

export const defaultConsumeOptions: ConsumeOptions = {
  namespace: "",
  concurrency: 8,
  bufferSize: 64,
  perKeyOrdering: false,
  idempotencyGuard: undefined,
  retryDelayMs: 1_000,
  maxRetryDelayMs: 60_000,
  codecOptions: defaultCodecOptions,
  logger: createJsonLogger(),
};

export interface RunningConsumer {
  readonly stream: string;
  readonly consumer: string;
  /** Messages this instance holds: running, or waiting for their key or a free slot. */
  readonly inFlight: number;
  /**
   * Handled, failed and dead-lettered counts, the handlers' latency histogram and the last lag
   * read (docs/adr/0025-metrics-for-every-part.md): this consumer's entry in STATS `data`.
   */
  stats(): ConsumerStatsSnapshot;
  /**
   * Reads the consumer's lag from JetStream (consumer info) unless the last reading is younger
   * than `maxAgeMs`; concurrent calls share one request. Never rejects: a failed reading leaves
   * the last one (its `age_ms` grows).
   */
  refreshLag(maxAgeMs: number): Promise<void>;
  /** Settles when the loop ends: undefined after `stop()`, the error when it failed. */
  readonly done: Promise<Error | undefined>;
  /**
   * Stops pulling, gives waiting messages back at once, lets running handlers finish within
   * `graceMs`, then aborts their signals and gives their messages back too.
   */
  stop(graceMs: number): Promise<void>;
}

export async function consume<Desc extends DescMessage>(
  nc: NatsConnection,
  schema: Desc,
  target: ConsumeTarget,
  handler: MessageHandler<Desc>,
  partial: Partial<ConsumeOptions> = {},
): Promise<RunningConsumer> {
  const options: ConsumeOptions = { ...defaultConsumeOptions, ...partial };
  for (const name of ["concurrency", "bufferSize"] as const) {
    if (!Number.isInteger(options[name]) || options[name] < 1) {
      throw new Error(`consume: ${name} must be an integer >= 1, got ${options[name]}`);
    }
  }
  const { stream, consumer: name } = target;
  const { logger, idempotencyGuard: guard } = options;
  const js: JetStreamClient = jetstream(nc);
  const consumer = await js.consumers.get(stream, name);
  const askedAt = performance.now();
  const info = await consumer.info(true);
  const config = info.config;
  const stats = createConsumerStats(stream, name, target.kind);
  stats.lag(info.num_pending, info.num_ack_pending, askedAt);
  let lagReading: Promise<void> | undefined;
  const ackWaitMs = millis(config.ack_wait ?? 30_000_000_000);
  const maxAttempts = maxAttemptsOf(config);
  const dlqSubject = deadLetterSubject(stream, name, options.namespace);

  /** The messages this instance holds, by stream sequence. */
  const held = new Map<number, Delivery>();
  // From the moment a message arrives until it is settled, it stays ours: one timer for all held
  // messages sends working() (a timer per message costs more than the message). The pull asks
  // for no more than the loop can hold, so no message waits anywhere without it (ADR 17,
  // "Refinements"). The ack wait is short (a dead instance's messages come back within seconds),
  // so the signal goes out three times per ack wait: a message still gets one in time when a tick
  // comes late.
  const keepAlive = setInterval(() => {
    for (const d of held.values()) if (!d.settled) d.msg.working();
  }, progressIntervalMs(ackWaitMs));
  (keepAlive as { unref?: () => void }).unref?.();
  let loopEnded = false;
  const running = createConcurrencyLimit(options.concurrency);
  const lanes = createKeyLanes();
  const acks = createAckBatch();
  let stopping = false;
  let idle: (() => void) | undefined;
  /** How long a handler slot stays busy per message, a moving average (ms); unknown at first. */
  let slotMs: number | undefined;
  const slotFreed = (began: number) => {
    const ms = performance.now() - began;
    slotMs = slotMs === undefined ? ms : slotMs + 0.2 * (ms - slotMs);
  };
  // A message pulled ahead waits for a slot, unstarted: if the instance dies or drains meanwhile,
  // that delivery counts towards the maximum without an attempt. So the buffer holds what the
  // slots will start within about a second, at most `bufferSize` (ADR 17, "Refinements").
  const room = () => {
    const buffer =
      slotMs === undefined
        ? options.bufferSize
        : Math.min(
            options.bufferSize,
            Math.max(1, Math.ceil((BUFFER_HORIZON_MS * options.concurrency) / slotMs)),
          );
    return options.concurrency + buffer - held.size;
  };

  const settle = (d: Delivery, how: "ack" | "nak" | "term", delayMs = 0) => {
    if (d.settled) return;
    d.settled = true;
    if (how === "ack") acks.add(d.msg);
    else if (how === "nak") d.msg.nak(delayMs);
    else d.msg.term();
  };

  const retryDelay = (attempt: number) => {
    const exponential = options.retryDelayMs * 2 ** Math.min(attempt - 1, 30);
    // Up to 20 % less, so the retries of a burst of failures spread out.
    return Math.round(Math.min(exponential, options.maxRetryDelayMs) * (0.8 + 0.2 * Math.random()));
  };

  const fieldsOf = (d: Delivery, id: string) => ({
    stream,
    consumer: name,
    subject: d.msg.subject,
    seq: d.msg.seq,
    id,
    deliveryCount: d.msg.deliveryCount,
  });

  /** Publishes the message to the dead letters, then terminates it; naks it when that fails. */
  const giveUp = async (d: Delivery, id: string, error: ConnectError) => {
    const { msg } = d;
    const origin = {
      subject: msg.subject,
      stream,
      seq: msg.seq,
      consumer: name,
      id,
      code: error.code,
      error: error.rawMessage,
      deliveryCount: msg.deliveryCount,
      publishedAt: msg.time,
    };
    try {
      await js.publish(dlqSubject, msg.data, {
        msgID: deadLetterMsgId(origin),
        headers: deadLetterHeaders(msg.headers, origin),
      });
    } catch (err) {
      logger.log("error", "cannot dead-letter a message; it will be delivered again", {
        ...fieldsOf(d, id),
        reason: error.rawMessage,
        ...errorFields(err),
      });
      settle(d, "nak", retryDelay(msg.deliveryCount));
      return;
    }
    logger.log("error", "message dead-lettered", {
      ...fieldsOf(d, id),
      code: Code[error.code],
      reason: error.rawMessage,
      deadLetters: dlqSubject,
    });
    stats.deadLettered();
    settle(d, "term");
  };

  const failed = async (d: Delivery, id: string, err: unknown) => {
    if (d.settled) return;
    const error = ConnectError.from(err);
    const attempt = d.msg.deliveryCount;
    // invalid_argument says the message itself is wrong: no retry can succeed.
    if (error.code === Code.InvalidArgument || attempt >= maxAttempts) {
      await giveUp(d, id, error);
      return;
    }
    const delayMs = retryDelay(attempt);
    logger.log("warn", "message handler failed; retrying later", {
      ...fieldsOf(d, id),
      retryInMs: delayMs,
      ...errorFields(err),
    });
    stats.failed();
    settle(d, "nak", delayMs);
  };

  // The steps below return undefined when they finished synchronously and a promise only when
  // something had to wait: with a handler that returns at once and a free slot, a message goes
  // from arrival to (queued) ack without a promise or a microtask of the loop's own.

  /** Runs the handler with the deadline's abort timer; a promise only when the handler returned one. */
  const invoke = (d: Delivery, job: Job<Desc>): Promise<void> | undefined => {
    const { deadline } = job;
    // Timers hold 32-bit delays: a deadline further away than ~24 days needs none.
    const timer =
      deadline === undefined || deadline - Date.now() > MAX_TIMER_MS
        ? undefined
        : setTimeout(
            () => d.abort(new ConnectError("the message's deadline passed", Code.DeadlineExceeded)),
            deadline - Date.now(),
          );
    let result: Promise<void> | void;
    const started = performance.now();
    try {
      // A consumer span, child of the publisher's, when tracing is on (ADR 0014); else a plain call.
      const { msg } = d;
      result = traceDelivery(
        msg.headers,
        { subject: msg.subject, consumer: name, messageId: job.id, deliveryCount: msg.deliveryCount },
        () => handler(job.message, new DeliveryMeta(d, job.id, job.key, stream, job.deadline)),
      );
    } catch (err) {
      clearTimeout(timer);
      stats.observe(performance.now() - started);
      throw err;
    }
    if (result === undefined || typeof (result as PromiseLike<void>).then !== "function") {
      clearTimeout(timer);
      stats.observe(performance.now() - started);
      return undefined;
    }
    return result.then(
      () => {
        clearTimeout(timer);
        stats.observe(performance.now() - started);
      },
      (err: unknown) => {
        clearTimeout(timer);
        stats.observe(performance.now() - started);
        throw err;
      },
    );
  };

  /** Success: acked (queued), unless stop() gave the message back after its grace period. */
  const succeeded = (d: Delivery) => {
    if (d.settled) return;
    stats.handled();
    settle(d, "ack");
  };

  /** With the idempotency guard: skip a handled id, record the id before the ack. */
  const guarded = async (d: Delivery, job: Job<Desc>, g: IdempotencyGuard) => {
    if (await g.handled(name, job.id)) {
      settle(d, "ack");
      return;
    }
    try {
      await invoke(d, job);
    } catch (err) {
      await failed(d, job.id, err);
      return;
    }
    if (d.settled) return;
    await g.record(name, job.id).catch((err: unknown) => {
      // Acked anyway: holding it back would run the handler again for certain.
      logger.log("warn", "cannot record a handled message in the idempotency guard", {
        ...fieldsOf(d, job.id),
        ...errorFields(err),
      });
    });
    succeeded(d);
  };

  /** Runs a message whose handler slot is taken, and gives the slot back when it is done. */
  const run = (d: Delivery, job: Job<Desc>): Promise<void> | undefined => {
    const began = performance.now();
    let pending: Promise<void> | undefined;
    try {
      if (d.settled) {
        // given back by stop() while it waited
      } else if (job.deadline !== undefined && job.deadline <= Date.now()) {
        d.running = true;
        const passed = new Date(job.deadline).toISOString();
        pending = giveUp(
          d,
          job.id,
          new ConnectError(`its deadline ${passed} passed before it was handled`, Code.DeadlineExceeded),
        );
      } else if (guard !== undefined) {
        d.running = true;
        pending = guarded(d, job, guard);
      } else {
        d.running = true;
        pending = invoke(d, job)?.then(
          () => succeeded(d),
          (err: unknown) => failed(d, job.id, err),
        );
        if (pending === undefined) succeeded(d);
      }
    } catch (err) {
      // The handler threw synchronously.
      pending = failed(d, job.id, err);
    }
    if (pending === undefined) {
      slotFreed(began);
      running.release();
      return undefined;
    }
    return pending.finally(() => {
      slotFreed(began);
      running.release();
    });
  };

  /** Decodes and checks a message, then runs it once its key's lane and a handler slot are free. */
  const handle = (d: Delivery): Promise<void> | undefined => {
    const { msg } = d;
    // Every protocol header this loop reads, in one pass (names are lower case in Header).
    const [contentType, deadlineHeader, ownId, natsMsgId, keyHeader] = pickHeaders(
      msg.headers,
      DELIVERY_HEADERS,
    );
    const id = ownId ?? natsMsgId ?? `${msg.stream}.${msg.seq}`;
    if (msg.deliveryCount > maxAttempts) {
      // The one delivery past the attempts (declare-consumers.ts): the one before ended without
      // an answer. JetStream cannot tell a handler that was cut short from a message that was
      // held, unstarted, when its instance died; the loop keeps the latter rare (ADR 17).
      const why = "its last delivery ended without an answer (the instance holding it stopped or died)";
      return giveUp(d, id, new ConnectError(why, Code.Aborted));
    }
    let job: Job<Desc>;
    try {
      const codec = codecOf(contentType, msg.data);
      if (codec === undefined)
        throw new ConnectError(`unsupported content type "${contentType}"`, Code.InvalidArgument);
      job = {
        message: decodeMessage(schema, codec, msg.data, options.codecOptions),
        id,
        key: target.kind === "event" ? eventKeyOf(msg.subject) : keyHeader,
        // An event is a fact: a deadline header on one (stored by an older publisher) is ignored.
        deadline: target.kind === "job" ? deadlineOf(deadlineHeader) : undefined,
      };
    } catch (err) {
      return giveUp(d, id, ConnectError.from(err, Code.InvalidArgument));
    }
    if (options.perKeyOrdering && job.key !== undefined) return inLane(d, job, job.key);
    if (running.tryAcquire()) return run(d, job);
    return running.acquire().then(() => run(d, job));
  };

  const inLane = async (d: Delivery, job: Job<Desc>, key: string) => {
    const releaseLane = await lanes.acquire(key);
    try {
      await running.acquire();
      await run(d, job);
    } finally {
      releaseLane();
    }
  };

  const unexpected = (d: Delivery, err: unknown) => {
    logger.log("error", "unexpected failure delivering a message", errorFields(err));
    settle(d, "nak", options.retryDelayMs);
  };

  const finish = (d: Delivery) => {
    if (held.get(d.msg.seq) === d) held.delete(d.msg.seq);
    pull.refill();
    if (held.size === 0) {
      idle?.();
      if (loopEnded) clearInterval(keepAlive);
    }
  };

  /** Every message the pull receives. */
  const receive = (msg: PulledMessage) => {
    const holding = held.get(msg.seq);
    if (holding !== undefined && !holding.settled) {
      // Delivered again while this instance holds it: an event loop stalled past the ack wait, or
      // a new consumer leader that had not seen its progress signals. JetStream acknowledges (and
      // naks) by stream sequence, so the delivery held, running or waiting, answers for both.
      logger.log("debug", "message delivered again while held; the held delivery answers for it", {
        stream,
        consumer: name,
        seq: msg.seq,
        deliveryCount: msg.deliveryCount,
      });
    } else if (stopping) {
      msg.nak(); // arrived while the consumer stops (a pull already on its way): given back at once
    } else {
      deliver(msg);
    }
  };

  const deliver = (msg: PulledMessage) => {
    const d = new Delivery(msg);
    held.set(msg.seq, d);
    let pending: Promise<void> | undefined;
    try {
      pending = handle(d);
    } catch (err) {
      unexpected(d, err);
    }
    if (pending === undefined) finish(d);
    else
      pending.then(
        () => finish(d),
        (err: unknown) => {
          unexpected(d, err);
          finish(d);
        },
      );
  };

  const pull = pullMessages(nc, stream, name, {
    capacity: options.concurrency + options.bufferSize,
    room,
    onMessage: receive,
    ...defaultPullTiming,
    apiPrefix: js.getOptions().apiPrefix ?? JS_API_PREFIX,
    logger,
  });
  const done = pull.done.then((err) => {
    if (err !== undefined && !stopping) {
      logger.log("error", "consumer stopped", { stream, consumer: name, ...errorFields(err) });
    }
    return err;
  });
  // The keep-alive outlives the pull loop while handlers still run (a stop's grace period).
  void done.finally(() => {
    loopEnded = true;
    if (held.size === 0) clearInterval(keepAlive);
  });

  return {
    stream,
    consumer: name,
    get inFlight() {
      return held.size;
    },
    stats: () => stats.snapshot(held.size),
    refreshLag(maxAgeMs) {
      const at = stats.lagAt;
      if (at !== undefined && performance.now() - at < maxAgeMs) return Promise.resolve();
      lagReading ??= (async () => {
        const asked = performance.now();
        try {
          const fresh = await consumer.info(false);
          stats.lag(fresh.num_pending, fresh.num_ack_pending, asked);
        } catch (err) {
          logger.log("debug", "cannot read the consumer's lag", {
            stream,
            consumer: name,
            ...errorFields(err),
          });
        } finally {
          lagReading = undefined;
        }
      })();
      return lagReading;
    },
    done,
    async stop(graceMs) {
      if (stopping) {
        await done;
        return;
      }
      stopping = true;
      const pulled = pull.stop();
      for (const d of held.values()) if (!d.running) settle(d, "nak");
      if (held.size > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((resolve) => {
            idle = resolve;
          }),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, graceMs);
          }),
        ]);
        clearTimeout(timer);
      }
      const reason = new ConnectError("the consumer is stopping", Code.Unavailable);
      for (const d of held.values()) {
        d.abort(reason);
        settle(d, "nak");
      }
      acks.flush();
      await pulled;
      await done;
      // The acks and naks above must reach the server before the caller closes the connection.
      await nc.flush().catch(() => undefined);
    },
  };
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A message pulled ahead of the handlers should start within about this long (see `room`). */
const BUFFER_HORIZON_MS = 1_000;

/**
 * How often held messages get `working()`: a third of the ack wait, so that a late tick (a busy
 * event loop) still leaves a third of it before JetStream would deliver the message again.
 */
function progressIntervalMs(ackWaitMs: number): number {
  return Math.max(1, Math.floor(ackWaitMs / 3));
}

/** A decoded message, ready for its handler. */
interface Job<Desc extends DescMessage> {
  readonly message: MessageShape<Desc>;
  readonly id: string;
  readonly key: string | undefined;
  /** Epoch milliseconds; undefined without a deadline. */
  readonly deadline: number | undefined;
}

/**
 * The headers a delivery reads: its content type, its deadline, its own id (`troupe-msg-id` on a
 * redriven message, else `Nats-Msg-Id`) and, for jobs, its key.
 */
const DELIVERY_HEADERS = [
  Header.contentType,
  Header.deadline,
  Header.messageId,
  Header.natsMsgId.toLowerCase(),
  Header.key,
] as const;

/** The absolute deadline (epoch ms) in `troupe-deadline`; throws invalid_argument when malformed. */
function deadlineOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const deadline = Number(value);
  if (!Number.isFinite(deadline)) {
    throw new ConnectError(`${Header.deadline} "${value}" is not epoch milliseconds`, Code.InvalidArgument);
  }
  return deadline;
}
