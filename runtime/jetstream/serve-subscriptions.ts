/**
 * An actor's asynchronous side at start (docs/adr/0007-events-queues-and-dead-letters.md): the
 * streams it publishes to and reads from are reconciled (`declareActorStreams`), then one durable
 * consumer per subscription is reconciled and its delivery loop started (`serveSubscriptions`).
 * Every instance does the same; reconciliation is idempotent.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createJsonLogger, type Logger } from "../observability/logger.ts";
import { eventStreamName, jobStreamName, packageOf } from "../protocol/subjects.ts";
import { consume, type RunningConsumer } from "./consume.ts";
import { eventConsumer, jobConsumer, reconcileConsumer } from "./declare-consumers.ts";
import {
  DECLARATION_TIMEOUT_MS,
  deadLetterStream,
  eventStream,
  jobStream,
  type ReconcileResult,
  reconcileStreams,
  retryDeclaration,
  type StreamOptions,
  type StreamSpec,
} from "./declare-streams.ts";
import { defaultReplicas } from "./default-replicas.ts";
import { type IdempotencyGuard, openIdempotencyGuard } from "./idempotency-guard.ts";
import type { HandlerSpec } from "./subscriptions.ts";

/** The event and job types an actor publishes; their streams are declared when it starts. */
export interface Publishes {
  readonly events?: readonly DescMessage[];
  readonly jobs?: readonly DescMessage[];
}

export interface ServeSubscriptionsOptions {
  readonly namespace: string;
  /** Options of the streams the actor declares (the same for every actor of a system). */
  readonly streams: Partial<Omit<StreamOptions, "namespace">>;
  /** How long the idempotency guard remembers a handled message id. */
  readonly idempotencyTtlMs: number;
  readonly logger: Logger;
}

export const defaultServeSubscriptionsOptions: ServeSubscriptionsOptions = {
  namespace: "",
  streams: {},
  idempotencyTtlMs: 24 * 60 * 60_000,
  logger: createJsonLogger(),
};

/** The stream specs for what an actor publishes and subscribes to, plus the dead letters. */
export function actorStreams(
  publishes: Publishes,
  handlers: readonly HandlerSpec[],
  partial: Partial<ServeSubscriptionsOptions> = {},
): StreamSpec[] {
  const options = { ...defaultServeSubscriptionsOptions, ...partial };
  const streamOptions = { ...options.streams, namespace: options.namespace };
  const events = new Set<string>();
  const jobs = new Map<string, DescMessage>();
  for (const schema of publishes.events ?? []) events.add(packageOf(schema.typeName));
  for (const schema of publishes.jobs ?? []) jobs.set(schema.typeName, schema);
  for (const { kind, schema } of handlers) {
    if (kind === "event") events.add(packageOf(schema.typeName));
    else jobs.set(schema.typeName, schema);
  }
  const specs = [
    ...[...events].map((protoPackage) => eventStream(protoPackage, streamOptions)),
    ...[...jobs.values()].map((schema) => jobStream(schema, streamOptions)),
  ];
  if (handlers.length > 0) specs.push(deadLetterStream(streamOptions));
  return specs;
}

/** The options with the connection's replica count where they set none (default-replicas.ts). */
function withDefaultReplicas(
  nc: NatsConnection,
  partial: Partial<ServeSubscriptionsOptions>,
): Partial<ServeSubscriptionsOptions> {
  const streams = partial.streams ?? {};
  return { ...partial, streams: { ...streams, replicas: streams.replicas ?? defaultReplicas(nc) } };
}

/** Reconciles the streams of `actorStreams`; nothing (and no JetStream needed) when there are none. */
export async function declareActorStreams(
  nc: NatsConnection,
  publishes: Publishes,
  handlers: readonly HandlerSpec[],
  partial: Partial<ServeSubscriptionsOptions> = {},
): Promise<ReconcileResult[]> {
  const specs = actorStreams(publishes, handlers, withDefaultReplicas(nc, partial));
  if (specs.length === 0) return [];
  return reconcileStreams(
    await jetstreamManager(nc, { timeout: DECLARATION_TIMEOUT_MS }),
    nc.info?.version ?? "",
    specs,
  );
}

export interface ServedSubscriptions {
  readonly consumers: readonly RunningConsumer[];
  /** Stops every consumer (see RunningConsumer.stop): waiting messages go back, running ones get `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Reconciles one durable consumer per subscription of actor `service` and starts its delivery
 * loop. The streams must exist (`declareActorStreams`).
 */
export async function serveSubscriptions(
  nc: NatsConnection,
  service: string,
  handlers: readonly HandlerSpec[],
  partial: Partial<ServeSubscriptionsOptions> = {},
): Promise<ServedSubscriptions> {
  const options = { ...defaultServeSubscriptionsOptions, ...partial };
  const consumers: RunningConsumer[] = [];
  const stop = async (graceMs: number) => {
    await Promise.all(consumers.map((c) => c.stop(graceMs)));
  };
  if (handlers.length === 0) return { consumers, stop };

  const jsm = await jetstreamManager(nc, { timeout: DECLARATION_TIMEOUT_MS });
  const version = nc.info?.version ?? "";
  let guard: IdempotencyGuard | undefined;
  if (handlers.some((h) => h.options.idempotent === true)) {
    guard = await openIdempotencyGuard(jsm.jetstream(), {
      namespace: options.namespace,
      ttlMs: options.idempotencyTtlMs,
      replicas: options.streams.replicas ?? defaultReplicas(nc),
    });
  }
  try {
    for (const { kind, schema, handler, options: subscription } of handlers) {
      const consumerOptions = { ...subscription, namespace: options.namespace };
      const spec =
        kind === "event"
          ? eventConsumer(service, schema, consumerOptions)
          : jobConsumer(schema, consumerOptions);
      const stream =
        kind === "event"
          ? eventStreamName(packageOf(schema.typeName), options.namespace)
          : jobStreamName(schema, options.namespace);
      const result = await retryDeclaration(() => reconcileConsumer(jsm, version, stream, spec));
      if (result.action !== "unchanged") {
        options.logger.log("info", `consumer ${result.action}`, {
          stream,
          consumer: result.name,
          changed: result.changed,
        });
      }
      const running = await consume(nc, schema, { stream, consumer: spec.durable_name, kind }, handler, {
        namespace: options.namespace,
        logger: options.logger,
        idempotencyGuard: subscription.idempotent === true ? guard : undefined,
        ...pick(subscription, [
          "concurrency",
          "bufferSize",
          "perKeyOrdering",
          "retryDelayMs",
          "maxRetryDelayMs",
        ]),
      });
      consumers.push(running);
    }
  } catch (err) {
    await stop(0);
    throw err;
  }
  return { consumers, stop };
}

/** The entries of `from` under `keys` that are set. */
function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) picked[key] = from[key];
  return picked;
}
