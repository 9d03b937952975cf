/**
 * The delivery loop of docs/adr/0007-events-queues-and-dead-letters.md for one durable pull
 * consumer. Each message is decoded (bad bytes go straight to the dead letters), checked against
 * its deadline and the idempotency guard, handled while `working()` keeps it ours, then acked;
 * a failure is nak'ed with exponential backoff until the last allowed attempt, which dead-letters
 * it. Handlers run at most `concurrency` at a time, optionally one per key, and the instance holds
 * at most `concurrency + bufferSize` messages, so a slow consumer leaves the rest in the stream.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type JetStreamClient, type JsMsg, jetstream } from "@nats-io/jetstream";
import { millis, type NatsConnection } from "@nats-io/nats-core";
import { createJsonLogger, errorFields, type Logger } from "../observability/logger.ts";
import { traceDelivery } from "../observability/tracing.ts";
import { type CodecOptions, codecOf, decodeMessage, defaultCodecOptions } from "../protocol/codec.ts";
import { Header } from "../protocol/headers.ts";
import { metadataOf, pickHeaders } from "../protocol/metadata.ts";
import { deadLetterSubject, eventKeyOf } from "../protocol/subjects.ts";
import { deadLetterHeaders, deadLetterMsgId } from "./dead-letter-envelope.ts";
import { maxAttemptsOf } from "./declare-consumers.ts";
import type { IdempotencyGuard } from "./idempotency-guard.ts";
import { createConcurrencyLimit, createKeyLanes } from "./key-lanes.ts";

/** What a handler learns about the message besides its body. */
export interface MessageMeta {
  /** The message id (what the publisher set, or the NUID it was given). */
  readonly id: string;
  readonly subject: string;
  /** The event's key (its subject's last token) or the job's key header; undefined without one. */
  readonly key: string | undefined;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  readonly publishedAt: Date;
  readonly stream: string;
  readonly seq: number;
  /** The publisher's metadata. */
  readonly headers: Headers;
  /** Aborted when the message's deadline passes or the consumer stops past its grace period. */
  readonly signal: AbortSignal;
  /** The message's `troupe-deadline` (epoch milliseconds), or undefined without one. */
  readonly deadline: number | undefined;
}

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
  /** Messages pulled ahead of the handlers. */
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
  /** Settles when the loop ends: undefined after `stop()`, the error when it failed. */
  readonly done: Promise<Error | undefined>;
  /**
   * Stops pulling, gives waiting messages back at once, lets running handlers finish within
   * `graceMs`, then aborts their signals and gives their messages back too.
   */
  stop(graceMs: number): Promise<void>;
}

/** One message from delivery to its ack, nak or term. */
interface Delivery {
  readonly msg: JsMsg;
  /** Created when the handler first reads its signal: most handlers never do. */
  controller: AbortController | undefined;
  /** Why the delivery was aborted, if it was (for a signal created afterwards). */
  abortReason: unknown;
  /** The handler started (or is about to): `stop()` lets it finish instead of taking it back. */
  running: boolean;
  settled: boolean;
}

/** The delivery's abort signal, created on first use. */
function signalOf(d: Delivery): AbortSignal {
  if (d.controller === undefined) {
    d.controller = new AbortController();
    if (d.abortReason !== undefined) d.controller.abort(d.abortReason);
  }
  return d.controller.signal;
}

function abortDelivery(d: Delivery, reason: unknown): void {
  if (d.abortReason !== undefined) return;
  d.abortReason = reason;
  d.controller?.abort(reason);
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
  const config = (await consumer.info(true)).config;
  const ackWaitMs = millis(config.ack_wait ?? 30_000_000_000);
  const maxAttempts = maxAttemptsOf(config);
  const dlqSubject = deadLetterSubject(stream, name, options.namespace);
  const messages = await consumer.consume({ max_messages: options.bufferSize });

  const held = new Set<Delivery>();
  // From the moment a message is ours until it is settled, it stays ours: one timer for all held
  // messages sends working() every half ack wait (a timer per message costs more than the message).
  const keepAlive = setInterval(() => {
    for (const d of held) if (!d.settled) d.msg.working();
  }, ackWaitMs / 2);
  (keepAlive as { unref?: () => void }).unref?.();
  let loopEnded = false;
  const maxHeld = options.concurrency + options.bufferSize;
  const running = createConcurrencyLimit(options.concurrency);
  const lanes = createKeyLanes();
  let stopping = false;
  let room: (() => void) | undefined;
  let idle: (() => void) | undefined;

  const settle = (d: Delivery, how: "ack" | "nak" | "term", delayMs = 0) => {
    if (d.settled) return;
    d.settled = true;
    if (how === "ack") d.msg.ack();
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
    deliveryCount: d.msg.info.deliveryCount,
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
      deliveryCount: msg.info.deliveryCount,
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
      settle(d, "nak", retryDelay(msg.info.deliveryCount));
      return;
    }
    logger.log("error", "message dead-lettered", {
      ...fieldsOf(d, id),
      code: Code[error.code],
      reason: error.rawMessage,
      deadLetters: dlqSubject,
    });
    settle(d, "term");
  };

  const failed = async (d: Delivery, id: string, err: unknown) => {
    if (d.settled) return;
    const error = ConnectError.from(err);
    const attempt = d.msg.info.deliveryCount;
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
    settle(d, "nak", delayMs);
  };

  const handle = async (d: Delivery) => {
    const { msg } = d;
    // Every protocol header this loop reads, in one pass (names are lower case in Header).
    const [contentType, deadlineHeader, ownId, natsMsgId, keyHeader] = pickHeaders(
      msg.headers,
      DELIVERY_HEADERS,
    );
    const id = ownId ?? natsMsgId ?? `${msg.info.stream}.${msg.seq}`;
    if (msg.info.deliveryCount > maxAttempts) {
      // The one delivery past the attempts (declare-consumers.ts): the last attempt never ended.
      const why = "its last attempt never finished (the instance handling it stopped or died)";
      await giveUp(d, id, new ConnectError(why, Code.Aborted));
      return;
    }
    let message: MessageShape<Desc>;
    let deadline: number | undefined;
    try {
      const codec = codecOf(contentType, msg.data);
      if (codec === undefined)
        throw new ConnectError(`unsupported content type "${contentType}"`, Code.InvalidArgument);
      message = decodeMessage(schema, codec, msg.data, options.codecOptions);
      deadline = deadlineOf(deadlineHeader);
    } catch (err) {
      await giveUp(d, id, ConnectError.from(err, Code.InvalidArgument));
      return;
    }
    const key = target.kind === "event" ? eventKeyOf(msg.subject) : keyHeader;
    const releaseLane = options.perKeyOrdering && key !== undefined ? await lanes.acquire(key) : undefined;
    try {
      await running.acquire();
      try {
        if (d.settled) return; // given back by stop() while it waited
        d.running = true;
        if (deadline !== undefined && deadline <= Date.now()) {
          const passed = new Date(deadline).toISOString();
          await giveUp(
            d,
            id,
            new ConnectError(`its deadline ${passed} passed before it was handled`, Code.DeadlineExceeded),
          );
          return;
        }
        if (guard !== undefined && (await guard.handled(name, id))) {
          settle(d, "ack");
          return;
        }
        // Timers hold 32-bit delays: a deadline further away than ~24 days needs none.
        const timer =
          deadline === undefined || deadline - Date.now() > MAX_TIMER_MS
            ? undefined
            : setTimeout(
                () =>
                  abortDelivery(d, new ConnectError("the message's deadline passed", Code.DeadlineExceeded)),
                deadline - Date.now(),
              );
        try {
          // Metadata, publish time and signal cost allocations: made only when a handler reads them.
          const delivery = {
            subject: msg.subject,
            consumer: name,
            messageId: id,
            deliveryCount: msg.info.deliveryCount,
          };
          await traceDelivery(msg.headers, delivery, () =>
            handler(message, {
              id,
              subject: msg.subject,
              key,
              deliveryCount: msg.info.deliveryCount,
              get publishedAt() {
                return msg.time;
              },
              stream,
              seq: msg.seq,
              get headers() {
                return metadataOf(msg.headers).header;
              },
              get signal() {
                return signalOf(d);
              },
              deadline,
            }),
          );
        } finally {
          clearTimeout(timer);
        }
        if (d.settled) return; // stop() gave it back after its grace period
        if (guard !== undefined) {
          await guard.record(name, id).catch((err: unknown) => {
            // Acked anyway: holding it back would run the handler again for certain.
            logger.log("warn", "cannot record a handled message in the idempotency guard", {
              ...fieldsOf(d, id),
              ...errorFields(err),
            });
          });
        }
        settle(d, "ack");
      } catch (err) {
        await failed(d, id, err);
      } finally {
        running.release();
      }
    } finally {
      releaseLane?.();
    }
  };

  const deliver = async (msg: JsMsg) => {
    const d: Delivery = {
      msg,
      controller: undefined,
      abortReason: undefined,
      running: false,
      settled: false,
    };
    held.add(d);
    try {
      await handle(d);
    } catch (err) {
      logger.log("error", "unexpected failure delivering a message", errorFields(err));
      settle(d, "nak", options.retryDelayMs);
    } finally {
      held.delete(d);
      if (room !== undefined && held.size < maxHeld) {
        const wake = room;
        room = undefined;
        wake();
      }
      if (held.size === 0) {
        idle?.();
        if (loopEnded) clearInterval(keepAlive);
      }
    }
  };

  const done = (async (): Promise<Error | undefined> => {
    try {
      for await (const msg of messages) {
        if (!stopping && held.size >= maxHeld) {
          await new Promise<void>((resolve) => {
            room = resolve;
          });
        }
        if (stopping) msg.nak();
        else void deliver(msg);
      }
      return undefined;
    } catch (err) {
      if (!stopping) logger.log("error", "consumer stopped", { stream, consumer: name, ...errorFields(err) });
      return err instanceof Error ? err : new Error(String(err));
    }
  })();
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
    done,
    async stop(graceMs) {
      if (stopping) {
        await done;
        return;
      }
      stopping = true;
      room?.();
      void messages.close();
      for (const d of held) if (!d.running) settle(d, "nak");
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
      for (const d of held) {
        abortDelivery(d, reason);
        settle(d, "nak");
      }
      await done;
      // The acks and naks above must reach the server before the caller closes the connection.
      await nc.flush().catch(() => undefined);
    },
  };
}

const MAX_TIMER_MS = 2 ** 31 - 1;

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
