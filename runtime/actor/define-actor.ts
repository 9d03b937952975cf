/**
 * An actor: a named, versioned process that serves proto services over NATS, publishes and
 * handles events and jobs on JetStream, and calls other actors through typed clients. The
 * definition is plain data plus functions that build, once the actor is connected, what one
 * instance keeps (`setup`), the services it serves and the messages it subscribes to.
 * `actors/<name>/main.ts` runs it with `runActor` (runtime/process/run-actor.ts).
 */
import type { DescMessage, DescService, MessageInitShape } from "@bufbuild/protobuf";
import type { Client, Transport } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import type { ServiceRegistration } from "../host/serve-services.ts";
import type { EnqueueOptions, PublishAck, PublishOptions } from "../jetstream/publish.ts";
import type { Publishes } from "../jetstream/serve-subscriptions.ts";
import type { StateStore, StateStoreOptions } from "../jetstream/state-store.ts";
import type { HandlerSpec } from "../jetstream/subscriptions.ts";
import type { Logger } from "../observability/logger.ts";
import type { TimerOptions, TimerRun } from "./actor-timers.ts";

/**
 * Options of `ctx.publish` (the namespace is the actor's). An event is a fact: it has no deadline
 * and never takes the handled call's (docs/adr/0017-facts-never-expire.md).
 */
export type ContextPublishOptions = Partial<Omit<PublishOptions, "namespace">>;

/** Options of `ctx.enqueue` (the namespace is the actor's). */
export type ContextEnqueueOptions = Partial<Omit<EnqueueOptions, "namespace">> & {
  /**
   * Inside a handler, the job expires with the handled call or message: its remaining time, or
   * `deadlineMs` when that is sooner. Off by default: a job has a deadline only when asked
   * (docs/adr/0017-facts-never-expire.md).
   */
  readonly inheritDeadline?: boolean;
};

/** The event (`"events"`) or job (`"jobs"`) types `P` declares; any message type for a `Publishes` not known statically. */
export type Declared<P extends Publishes, Kind extends keyof Publishes> = P extends {
  readonly [K in Kind]?: infer List;
}
  ? List extends readonly (infer Desc extends DescMessage)[]
    ? Desc
    : never
  : never;

/**
 * What an actor's services and handlers are built with. `P` is the actor's `publishes`, so that
 * `publish` and `enqueue` take only the types it declares (anything else does not compile).
 */
export interface ActorContext<P extends Publishes = Publishes> {
  readonly nc: NatsConnection;
  /** A Connect transport over NATS, for calling other actors. */
  readonly transport: Transport;
  /**
   * A typed client of another actor's service: `ctx.client(ProductService).getProduct(…)`. Inside
   * a handler its calls inherit the handled call's remaining time and cancellation (with a
   * signal of their own, either one cancels), so nothing needs passing on by hand. The service
   * must be in the actor's `calls`: any other is refused with `permission_denied`.
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
  publish<Desc extends Declared<P, "events">>(
    schema: Desc,
    init: MessageInitShape<Desc>,
    options?: ContextPublishOptions,
  ): Promise<PublishAck>;
  /** Enqueues a job the actor declares in `publishes.jobs`; resolves once stored. One instance takes it. */
  enqueue<Desc extends Declared<P, "jobs">>(
    schema: Desc,
    init: MessageInitShape<Desc>,
    options?: ContextEnqueueOptions,
  ): Promise<PublishAck>;
  /**
   * Opens (creating it if needed) the state bucket `bucket` in the actor's namespace, whose
   * values are `schema` messages: `await ctx.state("orders", OrderSchema)` is the bucket
   * `<namespace>_orders` (runtime/jetstream/state-store.ts). The bucket must be in the actor's
   * `state`: any other is refused with `permission_denied`.
   */
  state<Desc extends DescMessage>(
    bucket: string,
    schema: Desc,
    options?: Partial<Omit<StateStoreOptions<Desc>, "bucket" | "schema" | "namespace">>,
  ): Promise<StateStore<Desc>>;
  /**
   * Runs `run` about every `intervalMs` while the actor serves: the first run once it serves (or
   * one interval later), the next one an interval after the previous one ended, never two at
   * once; drain stops it and waits for the run in progress. A run that throws is logged and the
   * next one is its retry. Declare timers in `setup` (runtime/actor/actor-timers.ts).
   */
  every(intervalMs: number, run: TimerRun, options?: Partial<TimerOptions>): void;
}

/**
 * An actor. `State` is what one instance keeps (stores, mailers, clients): built by `setup`
 * and passed to `services` and `subscriptions`, which run after it, in that order. `P` is what
 * it publishes, which types its context's `publish` and `enqueue`.
 */
export interface ActorDefinition<State = unknown, P extends Publishes = Publishes> {
  /** The service name in discovery and the queue group instances share: `[A-Za-z0-9_-]+`. */
  readonly name: string;
  /** Semantic version of the actor. */
  readonly version: string;
  readonly description: string;
  /**
   * The services the actor serves: `services` must build these and no other (checked at start).
   * With what follows, this is the actor's declaration: what it may do on the bus, from which
   * its NATS credentials are derived (`troupe auth generate`, docs/adr/0030-credentials-from-declarations.md).
   * Nothing declared, nothing allowed.
   */
  readonly serves?: readonly DescService[];
  /**
   * The services the actor calls: `ctx.client` refuses any other, naming the declaration to add.
   * Its credentials let it publish requests to these services' methods only.
   */
  readonly calls?: readonly DescService[];
  /** The event and job types the actor handles: `subscriptions` may handle only these. */
  readonly consumes?: Publishes;
  /** The state buckets the actor opens with `ctx.state` (names within its namespace). */
  readonly state?: readonly string[];
  /**
   * Also take unary calls directly over TCP, for callers that call by address after discovery
   * (docs/adr/0031-direct-calls-by-address.md). The listener is on 127.0.0.1 with a free port
   * unless TROUPE_DIRECT_LISTEN names another address (or `off`). With credentials, callers
   * prove their NATS user and may call only what it may publish to; with TROUPE_DIRECT_CERT and
   * TROUPE_DIRECT_KEY it speaks TLS.
   */
  readonly direct?: boolean;
  /** Builds what one instance keeps; runs once per instance, after connecting. */
  setup?(context: ActorContext<P>): State | Promise<State>;
  /** Builds the served services; runs once per instance. */
  services?(
    context: ActorContext<P>,
    state: State,
  ): readonly ServiceRegistration[] | Promise<readonly ServiceRegistration[]>;
  /**
   * The event and job types the actor publishes: their streams are created or checked at start,
   * and `ctx.publish`/`ctx.enqueue` refuse types not listed here.
   */
  readonly publishes?: P;
  /** The events and jobs the actor handles (`onEvent`, `onJob`); runs once per instance. */
  subscriptions?(
    context: ActorContext<P>,
    state: State,
  ): readonly HandlerSpec[] | Promise<readonly HandlerSpec[]>;
  /**
   * Releases what `setup` opened (watches, timers); runs once at drain, after in-flight calls
   * and messages have finished.
   */
  stop?(context: ActorContext<P>, state: State): void | Promise<void>;
}

/**
 * Declares an actor (an identity function that checks the shape and keeps the types). Let the
 * types be inferred: `State` from `setup`, `P` from `publishes` (none declared: nothing to publish).
 */
export function defineActor<State = unknown, P extends Publishes = NothingPublished>(
  definition: ActorDefinition<State, P>,
): ActorDefinition<State, P> {
  return definition;
}

/** The `publishes` of an actor that declares none. */
interface NothingPublished {
  readonly events?: readonly [];
  readonly jobs?: readonly [];
}
