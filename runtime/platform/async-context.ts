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
  /** Calls `fn(...args)` with the variable set to `value` for everything it starts. */
  run<A extends unknown[], R>(value: T, fn: (...args: A) => R, ...args: A): R;
}

export function createAsyncContextVariable<T>(): AsyncContextVariable<T> {
  const storage = new AsyncLocalStorage<T>();
  return {
    get: () => storage.getStore(),
    run: (value, fn, ...args) => storage.run(value, fn, ...args),
  };
}
