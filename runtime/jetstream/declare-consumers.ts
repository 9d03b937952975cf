/**
 * The durable pull consumers of docs/adr/0007-events-queues-and-dead-letters.md, declared in code
 * and reconciled like streams (declare-streams.ts): one per subscribing service and event type,
 * one per job queue. All ack explicitly; `max_deliver` is one more than the handler attempts, so
 * a message whose last delivery ended without an answer (its process died) is still delivered
 * once more, to be dead-lettered instead of vanishing.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamManager,
  ReplayPolicy,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { ServerVersion } from "../protocol/server-version.ts";
import { eventConsumerName, eventFilter, jobConsumerName, jobSubject } from "../protocol/subjects.ts";
import { changedFields, show } from "./config-diff.ts";
import type { ReconcileResult } from "./declare-streams.ts";
import { isConsumerNotFound } from "./jetstream-errors.ts";
import { assertServerSupports, CONSUMER_FEATURES } from "./server-features.ts";

/** A consumer declaration: JetStream's own config, with its durable name. */
export type ConsumerSpec = Readonly<Partial<ConsumerConfig>> & { readonly durable_name: string };

export interface ConsumerOptions {
  readonly namespace: string;
  /**
   * How long a delivered message is the instance's without news before JetStream delivers it
   * again. Short, so a dead instance's messages come back within seconds: a live instance keeps
   * its messages with progress signals (consume.ts) however long its handlers run
   * (docs/adr/0017-facts-never-expire.md).
   */
  readonly ackWaitMs: number;
  /** How many times a handler may try a message before it is dead-lettered. */
  readonly maxAttempts: number;
  /** Messages delivered and not yet acknowledged, over all instances. */
  readonly maxAckPending: number;
  /** A new event consumer starts with every stored event ("all") or with the next one ("new"). */
  readonly deliverPolicy: "all" | "new";
}

export const defaultConsumerOptions: ConsumerOptions = {
  namespace: "",
  ackWaitMs: 3_000,
  maxAttempts: 5,
  maxAckPending: 1_000,
  deliverPolicy: "all",
};

/** `<service>_<Message>` on `evt.<package>.<Message>.*`: the service's share of one event type. */
export function eventConsumer(
  service: string,
  message: DescMessage,
  partial: Partial<ConsumerOptions> = {},
): ConsumerSpec {
  const options = resolve(partial);
  return {
    durable_name: eventConsumerName(service, message),
    description: `${service} handles ${message.typeName} events`,
    filter_subject: eventFilter(message, options.namespace),
    deliver_policy: options.deliverPolicy === "new" ? DeliverPolicy.New : DeliverPolicy.All,
    ...common(options),
  };
}

/** `<Message>` on `job.<package>.<Message>`: the one consumer of a work queue. */
export function jobConsumer(message: DescMessage, partial: Partial<ConsumerOptions> = {}): ConsumerSpec {
  const options = resolve(partial);
  return {
    durable_name: jobConsumerName(message),
    description: `handles ${message.typeName} jobs`,
    filter_subject: jobSubject(message, options.namespace),
    deliver_policy: DeliverPolicy.All,
    ...common(options),
  };
}

function resolve(partial: Partial<ConsumerOptions>): ConsumerOptions {
  const options = { ...defaultConsumerOptions, ...partial };
  if (!(options.ackWaitMs >= 1_000)) throw new Error(`ackWaitMs must be >= 1000, got ${options.ackWaitMs}`);
  if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
    throw new Error(`maxAttempts must be an integer >= 1, got ${options.maxAttempts}`);
  }
  if (!Number.isInteger(options.maxAckPending) || options.maxAckPending < 1) {
    throw new Error(`maxAckPending must be an integer >= 1, got ${options.maxAckPending}`);
  }
  return options;
}

function common(options: ConsumerOptions) {
  return {
    ack_policy: AckPolicy.Explicit,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(options.ackWaitMs),
    max_deliver: options.maxAttempts + 1,
    max_ack_pending: options.maxAckPending,
  };
}

/** Handler attempts a consumer allows: one fewer than its deliveries (see the module comment). */
export function maxAttemptsOf(config: Pick<ConsumerConfig, "max_deliver">): number {
  const deliveries = config.max_deliver ?? -1;
  return deliveries < 1 ? Number.POSITIVE_INFINITY : Math.max(1, deliveries - 1);
}

/** Consumer fields JetStream cannot change in place (nats-server `checkNewConsumerConfig`). */
const IMMUTABLE = new Set([
  "deliver_policy",
  "opt_start_seq",
  "opt_start_time",
  "ack_policy",
  "replay_policy",
  "max_waiting",
  "mem_storage",
  "deliver_subject",
  "idle_heartbeat",
  "flow_control",
  "deliver_group",
]);

/**
 * Creates the consumer on `stream` when missing, updates its mutable fields when they differ, and
 * refuses a change that needs a destructive migration (recreating the consumer loses its
 * position and pending acknowledgements) or a newer server.
 */
export async function reconcileConsumer(
  jsm: JetStreamManager,
  server: ServerVersion | string,
  stream: string,
  spec: ConsumerSpec,
): Promise<ReconcileResult> {
  const name = spec.durable_name;
  assertServerSupports(CONSUMER_FEATURES, `consumer ${stream}/${name}`, spec, server);
  let current: ConsumerConfig;
  try {
    current = (await jsm.consumers.info(stream, name)).config;
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
    // Create-or-update: a concurrent start creating the same consumer is not an error.
    await jsm.consumers.add(stream, { ...spec });
    return { name, action: "created", changed: [] };
  }
  const changes = changedFields(spec, current);
  if (changes.length === 0) return { name, action: "unchanged", changed: [] };
  const fixed = changes.find((c) => IMMUTABLE.has(c.field));
  if (fixed !== undefined) {
    throw new ConnectError(
      `consumer ${stream}/${name}: ${fixed.field} is ${show(fixed.current)} on the server but declared ` +
        `${show(fixed.declared)}; JetStream cannot change a consumer's ${fixed.field}, so this needs a ` +
        "destructive migration (delete and recreate the consumer, losing its position) and is refused",
      Code.FailedPrecondition,
    );
  }
  const { durable_name: _, ...update } = spec;
  await jsm.consumers.update(stream, name, update);
  return { name, action: "updated", changed: changes.map((c) => c.field) };
}
