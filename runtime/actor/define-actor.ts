/**
 * An actor: a named, versioned process that serves one or more proto services over NATS and
 * calls other actors through typed clients. The definition is plain data plus a function that
 * builds the implementations once the actor is connected (so they can hold clients of other
 * actors). `actors/<name>/main.ts` runs it with `runActor` (runtime/cli/run-actor.ts).
 */
import type { DescService } from "@bufbuild/protobuf";
import type { Client, Transport } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import type { ServiceRegistration } from "../host/serve-services.ts";
import type { Logger } from "../observability/logger.ts";

/** What an actor's services are built with. */
export interface ActorContext {
  readonly nc: NatsConnection;
  /** A Connect transport over NATS, for calling other actors. */
  readonly transport: Transport;
  /** A typed client of another actor's service: `ctx.client(ProductService).getProduct(…)`. */
  client<S extends DescService>(service: S): Client<S>;
  readonly logger: Logger;
  /** This instance's id in discovery ($SRV). */
  readonly instanceId: string;
}

export interface ActorDefinition {
  /** The service name in discovery and the queue group instances share: `[A-Za-z0-9_-]+`. */
  readonly name: string;
  /** Semantic version of the actor. */
  readonly version: string;
  readonly description: string;
  /** Builds the served services; runs once per instance, after connecting. */
  services(context: ActorContext): readonly ServiceRegistration[] | Promise<readonly ServiceRegistration[]>;
}

/** Declares an actor (an identity function that checks the shape and keeps the types). */
export function defineActor(definition: ActorDefinition): ActorDefinition {
  return definition;
}
