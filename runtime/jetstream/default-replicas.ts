/**
 * How many copies a system keeps of what it declares in JetStream (its streams, their consumers,
 * its KV buckets) when the code does not say: a property of where the system runs (1 on one
 * server, 3 on a cluster), not of each declaration. A process says it once for its connection
 * (TROUPE_JETSTREAM_REPLICAS, runtime/process/process-env.ts), and every declaration made over
 * that connection without its own `replicas` follows, including the buckets an actor opens
 * itself with `openStateStore(ctx.nc, …)`. An explicit `replicas` always wins.
 */
import type { NatsConnection } from "@nats-io/nats-core";

const byConnection = new WeakMap<NatsConnection, number>();

/** The replica count of declarations made over `nc` that do not set one: 1, 3 or 5. */
export function setDefaultReplicas(nc: NatsConnection, replicas: number): void {
  if (![1, 3, 5].includes(replicas)) throw new RangeError(`replicas must be 1, 3 or 5, got ${replicas}`);
  byConnection.set(nc, replicas);
}

/** What `setDefaultReplicas` set for `nc`; 1 when nothing was. */
export function defaultReplicas(nc: NatsConnection): number {
  return byConnection.get(nc) ?? 1;
}
