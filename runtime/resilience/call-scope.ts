/**
 * The call a handler is serving, as its nested calls see it: calls made through `ctx.client`
 * while a handler runs inherit its remaining time (not a fresh timeout) and its cancellation, and
 * so do jobs enqueued with `inheritDeadline: true`; events never do
 * (docs/adr/0017-facts-never-expire.md). The actor sets the scope around each handler
 * (serve-actor.ts); the client policies and `ctx.enqueue` read it. The scope follows `await`s
 * through the platform's async context (docs/adr/0011-resilience-policies.md).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncContextVariable } from "../platform/async-context.ts";

/**
 * The handled call or message. Connect's `HandlerContext` is one as it is, so an RPC handler's
 * scope costs no allocation.
 */
export interface CallScope {
  /** Milliseconds left before the handled call or message expires; undefined without a deadline. */
  timeoutMs(): number | undefined;
  /** Aborted when the handled call is cancelled or expires. */
  readonly signal: AbortSignal;
}

const scope = createAsyncContextVariable<CallScope>();

/** The scope of the handler this code runs in, or undefined outside a handler. */
export function currentCallScope(): CallScope | undefined {
  return scope.get();
}

/** Runs `fn(...args)` as part of the handled call `value`. */
export function runInCallScope<A extends unknown[], R>(
  value: CallScope,
  fn: (...args: A) => R,
  ...args: A
): R {
  return scope.run(value, fn, ...args);
}

/** Runs `fn()` outside any handled call: what it starts has no inherited deadline or signal. */
export function runOutsideCallScope<R>(fn: () => R): R {
  return scope.run(undefined, fn);
}

/**
 * The timeout of a nested call: its own, cut to what the handled call has left. Throws
 * `deadline_exceeded` when nothing is left, so a call that cannot finish is not sent.
 */
export function inheritedTimeoutMs(
  own: number | undefined,
  current: CallScope | undefined,
): number | undefined {
  const left = current?.timeoutMs();
  if (left === undefined) return own;
  if (left <= 0) {
    throw new ConnectError("the deadline of the call being handled has passed", Code.DeadlineExceeded);
  }
  return own === undefined || left < own ? left : own;
}

/**
 * The signal of a nested call: the handled call's, or, when the call has a signal of its own
 * (say, to cancel sibling calls once one fails), one that aborts when either does.
 */
export function inheritedSignal(own: AbortSignal | undefined, current: CallScope): AbortSignal {
  return own === undefined || own === current.signal
    ? current.signal
    : AbortSignal.any([own, current.signal]);
}
