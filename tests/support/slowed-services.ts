/**
 * An actor whose unary methods answer `delayMs` late (a slow dependency), for drills of
 * deadlines and drains. The wait ends early with the call's error when the call is aborted
 * (deadline, cancellation, the end of a drain's grace period).
 */
import type { ActorDefinition } from "troupe";
import type { ServiceRegistration } from "troupe/host";
import type { Publishes } from "troupe/jetstream";
import { withHooks } from "./actor-hooks.ts";

type Unary = (request: unknown, context: { signal: AbortSignal }) => unknown;

export function slowed<State, P extends Publishes>(
  actor: ActorDefinition<State, P>,
  delayMs: number,
): ActorDefinition<State, P> {
  return withHooks(actor, { service: (registration) => slowUnary(registration, delayMs) });
}

function slowUnary(registration: ServiceRegistration, delayMs: number): ServiceRegistration {
  const implementation: Record<string, unknown> = { ...registration.implementation };
  for (const method of registration.service.methods) {
    const impl = implementation[method.localName] as Unary | undefined;
    if (method.methodKind !== "unary" || impl === undefined) continue;
    implementation[method.localName] = (request: unknown, context: { signal: AbortSignal }) =>
      sleep(delayMs, context.signal).then(() => impl(request, context));
  }
  return { service: registration.service, implementation } as ServiceRegistration;
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
