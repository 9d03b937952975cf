/**
 * Runs an actor on an open NATS connection: builds its services, serves them (serve-services.ts)
 * and answers discovery ($SRV, NATS ADR-32). `drain()` leaves discovery, stops taking calls and
 * lets in-flight calls finish within a grace period.
 */
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { type NatsConnection, nuid } from "@nats-io/nats-core";
import { endpointNameOf } from "../discovery/endpoint-name.ts";
import { EndpointMetadata, Idempotency, ServiceMetadata } from "../discovery/metadata-keys.ts";
import { type ServiceResponder, startServiceResponder } from "../discovery/service-responder.ts";
import { type ServiceHost, serveServices } from "../host/serve-services.ts";
import { createJsonLogger, errorFields, type Logger } from "../observability/logger.ts";
import { createNatsTransport, type NatsTransportOptions } from "../transports/nats-transport.ts";
import { TROUPE_VERSION } from "../version.ts";
import type { ActorContext, ActorDefinition } from "./define-actor.ts";

export interface ServeActorOptions {
  /** Prefix of every Troupe subject, for several systems in one NATS account. */
  readonly namespace: string;
  /** Interceptors around every served method. */
  readonly interceptors: Interceptor[];
  /** Options of the transport the actor calls other actors with. */
  readonly transport: Partial<Omit<NatsTransportOptions, "nc">>;
  /** Reported in discovery metadata: the JavaScript runtime, e.g. "bun 1.4.5". */
  readonly runtime: string;
  /** Reported in discovery metadata: the host name. */
  readonly host: string;
  readonly logger: Logger;
}

export const defaultServeActorOptions: ServeActorOptions = {
  namespace: "",
  interceptors: [],
  transport: {},
  runtime: "unknown",
  host: "unknown",
  logger: createJsonLogger(),
};

export interface RunningActor {
  readonly name: string;
  /** This instance's id in discovery. */
  readonly id: string;
  readonly host: ServiceHost;
  readonly responder: ServiceResponder;
  /** Leaves discovery, stops taking calls, waits up to `graceMs` for in-flight ones. */
  drain(graceMs: number): Promise<void>;
}

export async function serveActor(
  nc: NatsConnection,
  actor: ActorDefinition,
  partial: Partial<ServeActorOptions> = {},
): Promise<RunningActor> {
  const options = { ...defaultServeActorOptions, ...partial };
  const id = nuid.next();
  const logger = options.logger;
  const transport = createNatsTransport({ namespace: options.namespace, ...options.transport, nc });
  const context: ActorContext = {
    nc,
    transport,
    client: (service) => createClient(service, transport) as Client<typeof service>,
    logger,
    instanceId: id,
  };
  const registrations = await actor.services(context);
  const host = await serveServices(nc, registrations, {
    name: actor.name,
    instanceId: id,
    namespace: options.namespace,
    interceptors: options.interceptors,
    logger,
  });
  const responder = await startServiceResponder(
    nc,
    {
      name: actor.name,
      id,
      version: actor.version,
      description: actor.description,
      metadata: {
        [ServiceMetadata.services]: registrations.map((r) => r.service.typeName).join(","),
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
    async drain(graceMs) {
      await responder.stop();
      await host.drain(graceMs);
    },
  };
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
