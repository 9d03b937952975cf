/**
 * Runs an actor's handlers in their call's scope (runtime/resilience/call-scope.ts), so the
 * calls they make inherit the remaining time and cancellation (and the jobs they enqueue, when
 * asked): RPC handlers with their Connect HandlerContext, job handlers with their job's deadline,
 * event handlers with none (an event never expires, docs/adr/0017-facts-never-expire.md).
 */
import type { HandlerContext } from "@connectrpc/connect";
import type { ServiceRegistration } from "../host/serve-services.ts";
import type { MessageHandler, MessageMeta } from "../jetstream/consume.ts";
import type { HandlerSpec } from "../jetstream/subscriptions.ts";
import { type CallScope, runInCallScope } from "../resilience/call-scope.ts";

type Impl = (request: unknown, context: HandlerContext) => unknown;

/** The registration with each method wrapped to run in its call's scope. */
export function callScopedServices(registration: ServiceRegistration): ServiceRegistration {
  const wrapped: Record<string, Impl> = {};
  const implementation = registration.implementation as Record<string, Impl | undefined>;
  for (const method of registration.service.methods) {
    const impl = implementation[method.localName];
    if (impl === undefined) continue;
    const streamsOut = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
    wrapped[method.localName] = streamsOut
      ? (request, context) =>
          scopedIterable(context, runInCallScope(context, impl, request, context) as AsyncIterable<unknown>)
      : (request, context) => runInCallScope(context, impl, request, context);
  }
  return {
    service: registration.service,
    implementation: wrapped as unknown as ServiceRegistration["implementation"],
  };
}

/**
 * A handler's output stream whose steps run in the scope: an async generator's body runs in
 * the context of whoever calls `next()` (the host's send loop), not of the call that made it.
 */
function scopedIterable(scope: CallScope, iterable: AsyncIterable<unknown>): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]() {
      const it = runInCallScope(scope, () => iterable[Symbol.asyncIterator]());
      return {
        next: (...args: [] | [unknown]) => runInCallScope(scope, () => it.next(...args)),
        return: (value?: unknown) =>
          runInCallScope(scope, () => it.return?.(value) ?? Promise.resolve({ done: true, value })),
        throw: (error?: unknown) => runInCallScope(scope, () => it.throw?.(error) ?? Promise.reject(error)),
      };
    },
  };
}

/** The subscription with its handler run in the message's scope. */
export function callScopedHandler(spec: HandlerSpec): HandlerSpec {
  const handler = spec.handler;
  const scoped: MessageHandler<never> = (message, meta) =>
    runInCallScope(messageScope(meta), handler, message, meta);
  return { ...spec, handler: scoped as HandlerSpec["handler"] };
}

function messageScope(meta: MessageMeta): CallScope {
  return {
    timeoutMs: () => (meta.deadline === undefined ? undefined : meta.deadline - Date.now()),
    get signal() {
      return meta.signal;
    },
  };
}
