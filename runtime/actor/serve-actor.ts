/**
 * Runs an actor on an open NATS connection: builds its state, reconciles the JetStream streams it
 * publishes to and reads from, serves its services (serve-services.ts), starts its event and job
 * consumers (serve-subscriptions.ts) and answers discovery ($SRV, NATS ADR-32). `drain()` leaves
 * discovery, stops taking calls and messages, and lets in-flight ones finish within a grace period.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, nuid } from "@nats-io/nats-core";
import { endpointNameOf } from "../discovery/endpoint-name.ts";
import {
  EndpointMetadata,
  formatServiceList,
  Idempotency,
  ServiceMetadata,
} from "../discovery/metadata-keys.ts";
import { type ServiceResponder, startServiceResponder } from "../discovery/service-responder.ts";
import { type ServiceHost, serveServices } from "../host/serve-services.ts";
import type { RunningConsumer } from "../jetstream/consume.ts";
import type { StreamOptions } from "../jetstream/declare-streams.ts";
import { enqueueJob, publishEvent } from "../jetstream/publish.ts";
import {
  declareActorStreams,
  type ServedSubscriptions,
  serveSubscriptions,
} from "../jetstream/serve-subscriptions.ts";
import { createJsonLogger, errorFields, type Logger } from "../observability/logger.ts";
import { type CallPolicies, createCallPolicies } from "../resilience/call-policies.ts";
import { currentCallScope, inheritedTimeoutMs } from "../resilience/call-scope.ts";
import type { CallPoliciesInit } from "../resilience/policy-options.ts";
import { createNatsTransport, type NatsTransportOptions } from "../transports/nats-transport.ts";
import { TROUPE_VERSION } from "../version.ts";
import { callScopedHandler, callScopedServices } from "./call-scoped.ts";
import type { ActorContext, ActorDefinition, ContextPublishOptions } from "./define-actor.ts";

export interface ServeActorOptions {
  /** Prefix of every Troupe subject, for several systems in one NATS account. */
  readonly namespace: string;
  /** Interceptors around every served method. */
  readonly interceptors: Interceptor[];
  /** Options of the transport the actor calls other actors with. */
  readonly transport: Partial<Omit<NatsTransportOptions, "nc">>;
  /**
   * Resilience policies of the actor's calls to other actors (README "Resilience policies"):
   * the defaults, per target service, per method; `false` for none (`transport.policies` wins).
   */
  readonly policies: CallPoliciesInit | false;
  /** Calls this instance serves at once; more are answered `resource_exhausted` (load shedding). */
  readonly maxInFlight: number;
  /** Reported in discovery metadata: the JavaScript runtime, e.g. "bun 1.4.5". */
  readonly runtime: string;
  /** Reported in discovery metadata: the host name. */
  readonly host: string;
  readonly logger: Logger;
  /** Options of the JetStream streams the actor declares (the same for every actor of a system). */
  readonly streams: Partial<Omit<StreamOptions, "namespace">>;
  /** How long the idempotency guard remembers a handled message id. */
  readonly idempotencyTtlMs: number;
  /**
   * More instance-wide statistics for the top-level `data` of `$SRV.STATS` (a JSON object, merged
   * beside what Troupe reports there: `policies`, the outgoing-call policies' snapshot, and
   * `host`, calls in flight and shed; see docs/adr/0014-tracing-and-metrics.md).
   */
  readonly extraStats: (() => Readonly<Record<string, unknown>>) | undefined;
}

export const defaultServeActorOptions: ServeActorOptions = {
  namespace: "",
  interceptors: [],
  transport: {},
  policies: {},
  maxInFlight: 1_000,
  runtime: "unknown",
  host: "unknown",
  logger: createJsonLogger(),
  streams: {},
  idempotencyTtlMs: 24 * 60 * 60_000,
  extraStats: undefined,
};

export interface RunningActor {
  readonly name: string;
  /** This instance's id in discovery. */
  readonly id: string;
  readonly host: ServiceHost;
  readonly responder: ServiceResponder;
  /** The delivery loops of the actor's event and job subscriptions. */
  readonly consumers: readonly RunningConsumer[];
  /** The policies of the actor's calls to other actors: `policies.snapshot()`; undefined without. */
  readonly policies: CallPolicies | undefined;
  /**
   * Leaves discovery, stops taking calls and messages, waits up to `graceMs` for in-flight ones;
   * messages not finished by then go back to their streams for another instance.
   */
  drain(graceMs: number): Promise<void>;
}

export async function serveActor<State>(
  nc: NatsConnection,
  actor: ActorDefinition<State>,
  partial: Partial<ServeActorOptions> = {},
): Promise<RunningActor> {
  const options = { ...defaultServeActorOptions, ...partial };
  const id = nuid.next();
  const { logger, namespace } = options;
  const policies =
    options.transport.policies === undefined && options.policies !== false
      ? createCallPolicies(options.policies)
      : undefined;
  const transport = createNatsTransport({
    namespace,
    ...(policies === undefined ? {} : { policies }),
    ...options.transport,
    nc,
  });
  const js = jetstream(nc);
  const declared = (kind: "events" | "jobs", schema: DescMessage) => {
    if (actor.publishes?.[kind]?.includes(schema) === true) return;
    throw new ConnectError(
      `actor ${actor.name} does not declare ${schema.typeName} in publishes.${kind}, so its stream is not ensured`,
      Code.FailedPrecondition,
    );
  };
  const context: ActorContext = {
    nc,
    transport,
    client: (service) => createClient(service, transport) as Client<typeof service>,
    logger,
    instanceId: id,
    namespace,
    async publish(schema, init, publishOptions = {}) {
      declared("events", schema);
      return publishEvent(js, schema, init, { ...inheritDeadline(publishOptions), namespace });
    },
    async enqueue(schema, init, publishOptions = {}) {
      declared("jobs", schema);
      return enqueueJob(js, schema, init, { ...inheritDeadline(publishOptions), namespace });
    },
  };
  const state = (await actor.setup?.(context)) as State;
  const handlers = ((await actor.subscriptions?.(context, state)) ?? []).map(callScopedHandler);
  const jetstreamOptions = {
    namespace,
    streams: options.streams,
    idempotencyTtlMs: options.idempotencyTtlMs,
    logger,
  };
  for (const result of await declareActorStreams(nc, actor.publishes ?? {}, handlers, jetstreamOptions)) {
    if (result.action === "unchanged") continue;
    logger.log("info", `stream ${result.action}`, { stream: result.name, changed: result.changed });
  }
  const registrations = (await actor.services?.(context, state)) ?? [];
  const host = await serveServices(nc, registrations.map(callScopedServices), {
    name: actor.name,
    instanceId: id,
    version: actor.version,
    namespace,
    interceptors: options.interceptors,
    maxInFlight: options.maxInFlight,
    logger,
  });
  let subscriptions: ServedSubscriptions;
  try {
    subscriptions = await serveSubscriptions(nc, actor.name, handlers, jetstreamOptions);
  } catch (err) {
    await host.drain(0);
    throw err;
  }
  for (const consumer of subscriptions.consumers) {
    void consumer.done.then((error) => {
      if (error !== undefined) {
        logger.log("error", "a consumer stopped delivering", {
          stream: consumer.stream,
          consumer: consumer.consumer,
          ...errorFields(error),
        });
      }
    });
  }
  const responder = await startServiceResponder(
    nc,
    {
      name: actor.name,
      id,
      version: actor.version,
      description: actor.description,
      metadata: {
        [ServiceMetadata.services]: formatServiceList(registrations.map((r) => r.service.typeName)),
        [ServiceMetadata.runtime]: options.runtime,
        [ServiceMetadata.host]: options.host,
        [ServiceMetadata.version]: TROUPE_VERSION,
      },
    },
    {
      endpoints: () =>
        host.endpoints.map((e) => ({
          name: endpointNameOf(e.method.parent.typeName, e.method.name),
          subject: e.subject,
          queueGroup: e.queueGroup,
          metadata: {
            [EndpointMetadata.kind]: e.method.methodKind,
            [EndpointMetadata.input]: e.method.input.typeName,
            [EndpointMetadata.output]: e.method.output.typeName,
            [EndpointMetadata.idempotency]: idempotencyOf(e.method.idempotency),
          },
          stats: e.stats,
        })),
      // Per endpoint: outcomes by code, in-flight count, latency histogram (ADR 0014).
      statsData: (_name, endpoint) => endpoint.stats.metrics(),
      // Per instance: what the outgoing-call policies see (breaker states, in flight, retries)
      // and the host's own load (in flight, shed), for /metrics (ADR 0011, ADR 0014).
      instanceData: () => ({
        ...options.extraStats?.(),
        ...(policies === undefined ? {} : { policies: policies.snapshot() }),
        host: { inFlight: host.inFlight, shed: host.shed },
      }),
    },
  );
  void responder.stopped.then((error) => {
    if (error !== null) logger.log("error", "discovery stopped answering", errorFields(error));
  });
  return {
    name: actor.name,
    id,
    host,
    responder,
    consumers: subscriptions.consumers,
    policies,
    async drain(graceMs) {
      await responder.stop();
      await Promise.all([host.drain(graceMs), subscriptions.stop(graceMs)]);
      await actor.stop?.(context, state);
    },
  };
}

/**
 * An event or job published while a handler runs expires with the handled call or message
 * (`troupe-deadline`), unless the publisher sets its own deadline or opts out.
 */
function inheritDeadline(options: ContextPublishOptions): ContextPublishOptions {
  const { inheritDeadline: inherit = true, ...rest } = options;
  if (!inherit || rest.deadlineMs !== undefined) return rest;
  const deadlineMs = inheritedTimeoutMs(undefined, currentCallScope());
  return deadlineMs === undefined ? rest : { ...rest, deadlineMs };
}

function idempotencyOf(level: number): Idempotency {
  // google.protobuf.MethodOptions.IdempotencyLevel
  switch (level) {
    case 1:
      return Idempotency.noSideEffects;
    case 2:
      return Idempotency.idempotent;
    default:
      return Idempotency.unknown;
  }
}
