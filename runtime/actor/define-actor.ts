/**
 * An actor: a named, versioned process that serves proto services over NATS, publishes and
 * handles events and jobs on JetStream, and calls other actors through typed clients. The
 * definition is plain data plus functions that build, once the actor is connected, what one
 * instance keeps (`setup`), the services it serves and the messages it subscribes to.
 * `actors/<name>/main.ts` runs it with `runActor` (runtime/cli/run-actor.ts).
 */
import type { DescMessage, DescService, MessageInitShape } from "@bufbuild/protobuf";
import type { Client, Transport } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import type { ServiceRegistration } from "../host/serve-services.ts";
import type { PublishAck, PublishOptions } from "../jetstream/publish.ts";
import type { Publishes } from "../jetstream/serve-subscriptions.ts";
import type { HandlerSpec } from "../jetstream/subscriptions.ts";
import type { Logger } from "../observability/logger.ts";

/** Options of `ctx.publish` and `ctx.enqueue` (the namespace is the actor's). */
export type ContextPublishOptions = Partial<Omit<PublishOptions, "namespace">> & {
  /**
   * Inside a handler, the message expires with the handled call or message unless it sets
   * `deadlineMs` (docs/adr/0011-resilience-policies.md); false publishes it without a deadline.
   */
  readonly inheritDeadline?: boolean;
};

/** What an actor's services and handlers are built with. */
export interface ActorContext {
  readonly nc: NatsConnection;
  /** A Connect transport over NATS, for calling other actors. */
  readonly transport: Transport;
  /**
   * A typed client of another actor's service: `ctx.client(ProductService).getProduct(…)`. Inside
   * a handler its calls inherit the handled call's remaining time and cancellation.
   */
  client<S extends DescService>(service: S): Client<S>;
  readonly logger: Logger;
  /** This instance's id in discovery ($SRV). */
  readonly instanceId: string;
  /** The prefix of every Troupe subject, stream and bucket of this system ("" without one). */
  readonly namespace: string;
  /**
   * Publishes an event the actor declares in `publishes.events`; resolves once stored.
   * Every subscribing actor gets it.
   */
  publish<Desc extends DescMessage>(
    schema: Desc,
    init: MessageInitShape<Desc>,
    options?: ContextPublishOptions,
  ): Promise<PublishAck>;
  /** Enqueues a job the actor declares in `publishes.jobs`; resolves once stored. One instance takes it. */
  enqueue<Desc extends DescMessage>(
    schema: Desc,
    init: MessageInitShape<Desc>,
    options?: ContextPublishOptions,
  ): Promise<PublishAck>;
}

/**
 * An actor. `State` is what one instance keeps (stores, mailers, clients): built by `setup`
 * and passed to `services` and `subscriptions`, which run after it, in that order.
 */
export interface ActorDefinition<State = unknown> {
  /** The service name in discovery and the queue group instances share: `[A-Za-z0-9_-]+`. */
  readonly name: string;
  /** Semantic version of the actor. */
  readonly version: string;
  readonly description: string;
  /** Builds what one instance keeps; runs once per instance, after connecting. */
  setup?(context: ActorContext): State | Promise<State>;
  /** Builds the served services; runs once per instance. */
  services?(
    context: ActorContext,
    state: State,
  ): readonly ServiceRegistration[] | Promise<readonly ServiceRegistration[]>;
  /**
   * The event and job types the actor publishes: their streams are created or checked at start,
   * and `ctx.publish`/`ctx.enqueue` refuse types not listed here.
   */
  readonly publishes?: Publishes;
  /** The events and jobs the actor handles (`onEvent`, `onJob`); runs once per instance. */
  subscriptions?(
    context: ActorContext,
    state: State,
  ): readonly HandlerSpec[] | Promise<readonly HandlerSpec[]>;
  /**
   * Releases what `setup` opened (watches, timers); runs once at drain, after in-flight calls
   * and messages have finished.
   */
  stop?(context: ActorContext, state: State): void | Promise<void>;
}

/** Declares an actor (an identity function that checks the shape and keeps the types). */
export function defineActor<State = unknown>(definition: ActorDefinition<State>): ActorDefinition<State> {
  return definition;
}
