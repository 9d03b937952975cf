/**
 * A value that follows the asynchronous flow of a call: set with `run`, read with `get` in any
 * callback or `await` continuation started inside it. Bun, Deno and Node all provide
 * `AsyncLocalStorage` from `node:async_hooks`; the interface is the shape of the TC39
 * AsyncContext.Variable proposal (https://github.com/tc39/proposal-async-context), so the
 * adapter can switch to it without touching its users. See docs/adr/0011-resilience-policies.md.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export interface AsyncContextVariable<T> {
  /** The value of the innermost `run` this code runs in, or undefined outside any. */
  get(): T | undefined;
  /** Calls `fn(...args)` with the variable set to `value` (undefined: unset) for everything it starts. */
  run<A extends unknown[], R>(value: T | undefined, fn: (...args: A) => R, ...args: A): R;
}

/** Runs `fn` in the async context captured when the snapshot was taken (every variable's value). */
export type AsyncContextSnapshot = <R>(fn: () => R) => R;

/**
 * Captures the current values of every async context variable, to run later code as if it
 * continued from here: work queued by one flow and run by another (a mailbox drained by whichever
 * call started it) keeps its own flow's values. TC39's AsyncContext.Snapshot; Bun, Deno and Node
 * have it as `AsyncLocalStorage.snapshot()`.
 */
export function snapshotAsyncContext(): AsyncContextSnapshot {
  return AsyncLocalStorage.snapshot() as AsyncContextSnapshot;
}

export function createAsyncContextVariable<T>(): AsyncContextVariable<T> {
  const storage = new AsyncLocalStorage<T | undefined>();
  return {
    get: () => storage.getStore(),
    run: (value, fn, ...args) => storage.run(value, fn, ...args),
  };
}
