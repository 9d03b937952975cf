/**
 * `troupe`: what an actor author needs. Define an actor from its contracts, serve it or run it
 * as a process, subscribe to events and jobs, publish and enqueue, call other actors, keep state.
 * Everything else has a subpath of its own (troupe/gateway, troupe/jetstream, troupe/discovery,
 * troupe/resilience, troupe/observability, troupe/protocol, troupe/host, troupe/testing); the
 * export list of every subpath is kept in api/ and compared by a test, so a change to the
 * surface is a deliberate diff.
 */

// Actors: define, serve, run as a process; what they declare (their credentials derive from it).
export { declarationOf } from "./actor/actor-declaration.ts";
export { type ActorContext, type ActorDefinition, defineActor } from "./actor/define-actor.ts";
// Keyed virtual actors: one per key, one turn at a time, durable state (docs/adr/0032-keyed-virtual-actors.md).
export { type KeyedImplementation, keyed, type Turn } from "./actor/keyed.ts";
export { type RunningActor, type ServeActorOptions, serveActor } from "./actor/serve-actor.ts";
// Calling actors: a Connect transport over NATS, and direct calls to one chosen instance.
export {
  createDirectCaller,
  type DirectCaller,
  type DirectCallerOptions,
} from "./discovery/direct-caller.ts";
export { implement } from "./host/serve-services.ts";
// Events and jobs (docs/adr/0007-events-queues-and-dead-letters.md).
export type { MessageMeta } from "./jetstream/consume.ts";
// State in JetStream KV.
export {
  type IdempotencyGuard,
  openIdempotencyGuard,
} from "./jetstream/idempotency-guard.ts";
export {
  type EnqueueOptions,
  enqueueJob,
  type PublishAck,
  type PublishOptions,
  publishEvent,
} from "./jetstream/publish.ts";
export {
  openStateStore,
  type StateEntry,
  type StateStore,
} from "./jetstream/state-store.ts";
export { onEvent, onJob, type SubscriptionOptions } from "./jetstream/subscriptions.ts";
// Logging and configuration.
export {
  createJsonLogger,
  errorFields,
  type Logger,
  type LogLevel,
  silentLogger,
} from "./observability/logger.ts";
export { readEnv } from "./platform/env.ts";
export { connect } from "./platform/nats-connect.ts";
export { type ActorProcess, runActor } from "./process/run-actor.ts";
export { createNatsTransport, type NatsTransportOptions } from "./transports/nats-transport.ts";
export { TROUPE_VERSION } from "./version.ts";
