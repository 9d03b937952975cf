/**
 * Test hooks from outside an actor: its definition wrapped so that its context, the state stores
 * it opens and its event and job handlers pass through the test's code first. Tests pause an
 * instance, lose a write or fail a publish this way, so the production actor has no option whose
 * only purpose is a test.
 *
 *   withHooks(createOrderActor(), {
 *     state: (bucket, store) => (bucket === "orders" ? { ...store, update: failing } : store),
 *   });
 */
import type { DescMessage } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type ActorContext,
  type ActorDefinition,
  openStateStore,
  type StateStore,
  silentLogger,
} from "troupe";
import type { ServiceRegistration } from "troupe/host";
import type { HandlerSpec, Publishes } from "troupe/jetstream";

/** A store of any schema, as a hook sees it. */
export type AnyStore = StateStore<DescMessage>;

export interface ActorHooks<State = unknown> {
  /** Sees what `setup` built for the instance (a test keeps a handle on it). */
  readonly setup?: (state: State) => void;
  /** Replaces the store the actor opens as `bucket` (the name it gives, without the namespace). */
  readonly state?: (bucket: string, store: AnyStore) => AnyStore;
  /** Replaces parts of the context (publish, every, …) before the actor sees it. */
  readonly context?: (ctx: ActorContext) => ActorContext;
  /** Replaces an event or job handler (`spec.handler`) before it is subscribed. */
  readonly handler?: (spec: HandlerSpec) => HandlerSpec;
  /** Replaces a served service's implementation. */
  readonly service?: (registration: ServiceRegistration) => ServiceRegistration;
}

/** What a store module needs of a context, for a test that opens it outside an actor. */
export function storesOn(nc: NatsConnection, namespace = ""): Pick<ActorContext, "state" | "logger"> {
  return {
    state: (bucket, schema, options) => openStateStore(nc, { ...options, bucket, schema, namespace }),
    logger: silentLogger,
  };
}

export function withHooks<State, P extends Publishes>(
  actor: ActorDefinition<State, P>,
  hooks: ActorHooks<State>,
): ActorDefinition<State, P> {
  const contexts = new WeakMap<ActorContext<P>, ActorContext<P>>();
  const hooked = (ctx: ActorContext<P>): ActorContext<P> => {
    let wrapped = contexts.get(ctx);
    if (wrapped === undefined) {
      const base = ctx as unknown as ActorContext;
      const withState: ActorContext = {
        ...base,
        state: async (bucket, schema, options) => {
          const store = await base.state(bucket, schema, options);
          return (hooks.state?.(bucket, store as unknown as AnyStore) ?? store) as typeof store;
        },
      };
      wrapped = (hooks.context?.(withState) ?? withState) as unknown as ActorContext<P>;
      contexts.set(ctx, wrapped);
    }
    return wrapped;
  };
  const { setup, services, subscriptions, stop } = actor;
  return {
    ...actor,
    ...(setup && {
      setup: async (ctx) => {
        const state = await setup.call(actor, hooked(ctx));
        hooks.setup?.(state);
        return state;
      },
    }),
    ...(services && {
      services: async (ctx, state) => {
        const registrations = await services.call(actor, hooked(ctx), state);
        return hooks.service === undefined ? registrations : registrations.map(hooks.service);
      },
    }),
    ...(subscriptions && {
      subscriptions: async (ctx, state) => {
        const specs = await subscriptions.call(actor, hooked(ctx), state);
        return hooks.handler === undefined ? specs : specs.map(hooks.handler);
      },
    }),
    ...(stop && { stop: (ctx, state) => stop.call(actor, hooked(ctx), state) }),
  };
}
