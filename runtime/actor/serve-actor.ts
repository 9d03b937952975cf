/**
 * Runs an actor on an open NATS connection: builds its state, reconciles the JetStream streams it
 * publishes to and reads from, stores its contracts' descriptors (publish-descriptors.ts), serves
 * its services (serve-services.ts), starts its event and job consumers (serve-subscriptions.ts)
 * and answers discovery ($SRV, NATS ADR-32), naming those descriptors. `drain()` leaves
 * discovery, stops taking calls and messages, and lets in-flight ones finish within a grace period.
 */
import type { DescMessage, DescService } from "@bufbuild/protobuf";
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
import { ActorRecordSchema } from "../gen/troupe/v1/keyed_pb.ts";
import { type DirectListener, type DirectListenOptions, listenDirect } from "../host/direct-listener.ts";
import { type ServiceHost, type ServiceRegistration, serveServices } from "../host/serve-services.ts";
import type { RunningConsumer } from "../jetstream/consume.ts";
import type { StreamOptions } from "../jetstream/declare-streams.ts";
import { enqueueJob, publishEvent } from "../jetstream/publish.ts";
import {
  declareActorStreams,
  type Publishes,
  type ServedSubscriptions,
  serveSubscriptions,
} from "../jetstream/serve-subscriptions.ts";
import { openStateStore } from "../jetstream/state-store.ts";
import type { HandlerSpec } from "../jetstream/subscriptions.ts";
import { createJsonLogger, errorFields, type Logger } from "../observability/logger.ts";
import { type CallPolicies, createCallPolicies } from "../resilience/call-policies.ts";
import { currentCallScope, inheritedTimeoutMs } from "../resilience/call-scope.ts";
import type { CallPoliciesInit } from "../resilience/policy-options.ts";
import { createDirectAuthority, credentialsOf } from "../security/direct-auth.ts";
import { createNatsTransport, type NatsTransportOptions } from "../transports/nats-transport.ts";
import { TROUPE_VERSION } from "../version.ts";
import { checkDeclaredBucket, checkDeclaredCall, checkDeclaredServing } from "./actor-declaration.ts";
import { createActorTimers } from "./actor-timers.ts";
import { callScopedHandler, callScopedServices } from "./call-scoped.ts";
import type { ActorContext, ActorDefinition, ContextEnqueueOptions } from "./define-actor.ts";
import { createKeyedHost, isKeyedRegistration, type KeyedHost } from "./keyed.ts";
import { publishDescriptors } from "./publish-descriptors.ts";

export interface ServeActorOptions {
  /** Prefix of every Troupe subject, for several systems in one NATS account. */
  readonly namespace: string;
  /** Interceptors around every served method. */
  readonly interceptors: Interceptor[];
  /** Options of the transport the actor calls other actors with. */
  readonly transport: Partial<Omit<NatsTransportOptions, "nc">>;
  /**
   * Resilience policies of the actor's calls to other actors (docs/guide/mesh-and-operations.md):
   * the defaults, per target service, per method; `false` for none (`transport.policies` wins).
   */
  readonly policies: CallPoliciesInit | false;
  /** Calls this instance serves at once; more are answered `resource_exhausted` (load shedding). */
  readonly maxInFlight: number;
  /**
   * Refuse requests that break their contract's `buf.validate` rules with `invalid_argument`
   * before the handler runs (docs/adr/0018-request-validation.md). On unless turned off.
   */
  readonly validateRequests: boolean;
  /**
   * The gateway's public nkeys (TROUPE_GATEWAY_KEY): identity headers must carry its signature,
   * else the call is refused `unauthenticated` (docs/adr/0030-credentials-from-declarations.md).
   * Empty: identity headers are taken as they come, which suits a bus only trusted processes reach.
   */
  readonly identityKeys: readonly string[];
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
  /**
   * A STATS request reads each consumer's lag from JetStream again when the last reading is older
   * than this (docs/adr/0025-metrics-for-every-part.md); 0: on every STATS request.
   */
  readonly consumerLagMaxAgeMs: number;
  /**
   * How long a STATS answer waits for fresh lag readings; past it the answer goes out with the
   * previous ones (their `age_ms` says how old) and the readings land for the next.
   */
  readonly consumerLagWaitMs: number;
  /**
   * Also take unary calls directly over TCP at this address, advertised in discovery
   * (`troupe.direct`) for callers that ask for it (docs/adr/0031-direct-calls-by-address.md);
   * `false`: calls come over NATS only; undefined (the default): as the definition's `direct`
   * says, on 127.0.0.1 with a free port. With credentials on the connection, callers must prove
   * a NATS user of the same account and may call what it may publish to; without `tls`, listen on
   * a private interface.
   */
  readonly direct: Partial<DirectListenOptions> | false | undefined;
}

export const defaultServeActorOptions: ServeActorOptions = {
  namespace: "",
  interceptors: [],
  transport: {},
  policies: {},
  maxInFlight: 1_000,
  validateRequests: true,
  identityKeys: [],
  runtime: "unknown",
  host: "unknown",
  logger: createJsonLogger(),
  streams: {},
  idempotencyTtlMs: 24 * 60 * 60_000,
  extraStats: undefined,
  consumerLagMaxAgeMs: 1_000,
  consumerLagWaitMs: 50,
  direct: undefined,
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
  /** The listener for direct calls by address, when `direct` asked for one. */
  readonly direct: DirectListener | undefined;
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
  const timers = createActorTimers(logger);
  const context: ActorContext = {
    nc,
    transport,
    client: (service) => {
      checkDeclaredCall(actor, service);
      return createClient(service, transport) as Client<typeof service>;
    },
    logger,
    instanceId: id,
    namespace,
    async publish(schema, init, publishOptions = {}) {
      declared("events", schema);
      return publishEvent(js, schema, init, { ...publishOptions, namespace });
    },
    async enqueue(schema, init, publishOptions = {}) {
      declared("jobs", schema);
      return enqueueJob(js, schema, init, { ...jobDeadline(publishOptions), namespace });
    },
    async state(bucket, schema, stateOptions = {}) {
      checkDeclaredBucket(actor, bucket);
      return openStateStore(nc, { ...stateOptions, bucket, schema, namespace });
    },
    every: timers.every,
  };
  const state = (await actor.setup?.(context)) as State;
  const handlers = ((await actor.subscriptions?.(context, state)) ?? []).map(callScopedHandler);
  const registrations = (await actor.services?.(context, state)) ?? [];
  checkDeclaredServing(
    actor,
    registrations.map((r) => r.service),
    handlers,
  );
  // Keyed services (keyed.ts): their state bucket and the host that turns calls into turns.
  const keyedHosts: KeyedHost[] = [];
  for (const registration of registrations.filter(isKeyedRegistration)) {
    const { bucket } = registration.keyed.implementation;
    checkDeclaredBucket(actor, bucket);
    keyedHosts.push(
      createKeyedHost(registration, {
        nc,
        store: await openStateStore(nc, { bucket, schema: ActorRecordSchema, namespace, history: 1 }),
        transport: createNatsTransport({ nc, namespace }),
        instanceId: id,
        namespace,
        logger,
      }),
    );
  }
  const served = registrations.map(
    (r) => keyedHosts.find((k) => k.registration.service === r.service)?.registration ?? r,
  );
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
  // Stored and named before the actor is discoverable: whoever sees it can decode its traffic.
  const descriptors = await publishDescriptors(nc, contractsOf(registrations, actor.publishes, handlers), {
    namespace,
    replicas: options.streams.replicas,
    logger,
    retryDelayMs: 1_000,
  });
  const host = await serveServices(nc, served.map(callScopedServices), {
    name: actor.name,
    instanceId: id,
    version: actor.version,
    namespace,
    interceptors: options.interceptors,
    maxInFlight: options.maxInFlight,
    validateRequests: options.validateRequests,
    identityKeys: options.identityKeys,
    logger,
  });
  let subscriptions: ServedSubscriptions;
  let direct: DirectListener | undefined;
  try {
    const listen = options.direct ?? (actor.direct === true ? {} : false);
    if (listen !== false && host.endpoints.length > 0) {
      // With credentials, callers by address must prove a user of the same account (ADR 31).
      const own = credentialsOf(nc);
      direct = await listenDirect(
        host.dispatch,
        listen,
        logger,
        own === undefined ? undefined : createDirectAuthority(own),
      );
    }
    subscriptions = await serveSubscriptions(nc, actor.name, handlers, jetstreamOptions);
    for (const keyedHost of keyedHosts) await keyedHost.start(host);
  } catch (err) {
    descriptors.stop();
    await Promise.all(keyedHosts.map((k) => k.stop()));
    await Promise.all([host.drain(0), direct?.close()]);
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
        ...descriptors.metadata,
        ...(direct === undefined ? {} : { [ServiceMetadata.direct]: direct.address }),
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
      // Per instance: what the outgoing-call policies see (breaker states, in flight, retries),
      // the host's own load (in flight, shed) and each consumer's counts, latency and lag, for
      // /metrics (ADR 0011, ADR 0014, ADR 0025).
      instanceData: () => ({
        ...options.extraStats?.(),
        ...(policies === undefined ? {} : { policies: policies.snapshot() }),
        host: { inFlight: host.inFlight, shed: host.shed },
        ...(keyedHosts.length === 0 ? {} : { keyed: keyedHosts.map((k) => k.stats()) }),
        ...(direct === undefined
          ? {}
          : {
              direct: {
                address: direct.address,
                served: direct.served,
                denied: direct.denied,
                connections: direct.connections,
              },
            }),
        ...(subscriptions.consumers.length === 0
          ? {}
          : { consumers: subscriptions.consumers.map((c) => c.stats()) }),
      }),
      ...(subscriptions.consumers.length === 0
        ? {}
        : {
            prepareStats: () =>
              refreshLags(subscriptions.consumers, options.consumerLagMaxAgeMs, options.consumerLagWaitMs),
          }),
    },
  );
  void responder.stopped.then((error) => {
    if (error !== null) logger.log("error", "discovery stopped answering", errorFields(error));
  });
  timers.start();
  return {
    name: actor.name,
    id,
    host,
    responder,
    consumers: subscriptions.consumers,
    policies,
    direct,
    async drain(graceMs) {
      descriptors.stop();
      await responder.stop();
      // Partitions first: each is given up once its turns ended, so the next owner takes over
      // without waiting for the lease to expire.
      await Promise.all(keyedHosts.map((k) => k.stop()));
      await Promise.all([direct?.drain(), host.drain(graceMs), subscriptions.stop(graceMs), timers.stop()]);
      await actor.stop?.(context, state);
    },
  };
}

/** Refreshes every consumer's lag, waiting at most `waitMs` (the readings land later otherwise). */
function refreshLags(
  consumers: readonly RunningConsumer[],
  maxAgeMs: number,
  waitMs: number,
): Promise<void> | undefined {
  const readings = consumers.map((c) => c.refreshLag(maxAgeMs));
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    Promise.all(readings).then(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A job's deadline: its own `deadlineMs`, cut to what the handled call or message has left when
 * it asks to inherit (refused with deadline_exceeded when nothing is left). Events never get
 * one (docs/adr/0017-facts-never-expire.md).
 */
function jobDeadline(options: ContextEnqueueOptions): ContextEnqueueOptions {
  const { inheritDeadline = false, ...rest } = options;
  if (!inheritDeadline) return ackWithinCall(rest);
  const deadlineMs = inheritedTimeoutMs(rest.deadlineMs, currentCallScope());
  return ackWithinCall(deadlineMs === undefined ? rest : { ...rest, deadlineMs });
}

/**
 * An enqueue made while a handler runs waits for the stream's acknowledgement no longer than the
 * handled call has left. An event's publish is not cut so: a fact is published even after the
 * call that produced it has run out of time.
 */
function ackWithinCall(options: ContextEnqueueOptions): ContextEnqueueOptions {
  const left = currentCallScope()?.timeoutMs();
  if (left === undefined || left <= 0) return options;
  return { ...options, timeoutMs: Math.min(options.timeoutMs ?? left, left) };
}

/** Every contract type an actor serves, publishes or consumes: what its descriptors describe. */
function contractsOf(
  registrations: readonly ServiceRegistration[],
  publishes: Publishes | undefined,
  handlers: readonly HandlerSpec[],
): (DescService | DescMessage)[] {
  return [
    ...registrations.map((r) => r.service),
    ...(publishes?.events ?? []),
    ...(publishes?.jobs ?? []),
    ...handlers.map((h) => h.schema),
  ];
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
