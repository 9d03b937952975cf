/**
 * A scheduler that runs its callback right after the event loop's current I/O phase
 * (`setImmediate`, which Bun, Deno and Node all provide through `node:timers`): work queued by
 * many I/O callbacks of one loop turn runs together, at no timer delay. The gateway batches its
 * forwarded requests with it (transports/nats-transport.ts `coalesceRequests`).
 */
import { setImmediate } from "node:timers";

export function afterIo(callback: () => void): void {
  setImmediate(callback);
}
