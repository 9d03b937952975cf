/**
 * `troupe/host`: serving Connect handlers over NATS without an actor definition (the layer
 * `serveActor` builds on), for tools and libraries (docs/adr/0004-rpc-over-nats.md); what a
 * handler reads of the call it serves (the caller's identity, as the gateway verified it); and
 * what a handler of a list method needs for its page tokens (`pageCursor`).
 */
// The options of `ctx.publish`/`ctx.enqueue`, and where a call may be sent (troupe's ActorContext).
export type { ContextEnqueueOptions, ContextPublishOptions } from "../actor/define-actor.ts";
// The types around `keyed` (troupe) that an actor author rarely names (docs/adr/0032-keyed-virtual-actors.md).
export type {
  DueReminder,
  KeyedHandlers,
  KeyedMethodImpl,
  KeyedRegistration,
} from "../actor/keyed.ts";
export type { CallTarget } from "../transports/call-router.ts";
export { type CallerIdentity, callerIdentity } from "./caller-identity.ts";
export { type PageCursor, pageCursor } from "./page-cursor.ts";
export {
  defaultServeOptions,
  type HostedEndpoint,
  type ServeOptions,
  type ServiceHost,
  type ServiceRegistration,
  serveServices,
} from "./serve-services.ts";
