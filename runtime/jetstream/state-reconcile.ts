/**
 * Keeps a bucket's limits as the code declares them. `Kvm.create` opens a bucket that exists as
 * it is, so a changed history, TTL or replica count would otherwise never reach a bucket created
 * earlier. JetStream changes all three in place (ADR 0007: declared in code, reconciled at
 * start); note that a smaller history or TTL drops the revisions and values beyond it.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { DECLARATION_TIMEOUT_MS } from "./declare-streams.ts";
import { isStreamNotFound } from "./jetstream-errors.ts";

/**
 * How long a bucket's stream may be "not found" right after `Kvm.create` returned: on a cluster,
 * when several processes create the same replicated bucket at once, the server a process asks
 * next may not know the stream yet (seen in the chaos suite's cluster topology).
 */
const JUST_CREATED_GRACE_MS = 5_000;

/**
 * Runs a step on a bucket that was just declared, again while its stream is "not found" and the
 * grace lasts (JUST_CREATED_GRACE_MS): a cluster still telling its servers about it.
 */
export async function whileJustCreated<T>(step: () => Promise<T>): Promise<T> {
  const until = Date.now() + JUST_CREATED_GRACE_MS;
  for (let delayMs = 50; ; delayMs = Math.min(delayMs * 2, 1_000)) {
    try {
      return await step();
    } catch (err) {
      if (!isStreamNotFound(err) || Date.now() + delayMs >= until) throw err;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

export interface BucketLimits {
  readonly history: number;
  /** Milliseconds; 0 for ever. */
  readonly ttl: number;
  readonly replicas: number;
}

export async function reconcileBucket(
  nc: NatsConnection,
  bucket: string,
  limits: BucketLimits,
): Promise<void> {
  const stream = `KV_${bucket}`;
  const jsm = await jetstreamManager(nc, { timeout: DECLARATION_TIMEOUT_MS });
  const info = await whileJustCreated(() => jsm.streams.info(stream));
  const { config } = info;
  const wanted = {
    max_msgs_per_subject: limits.history,
    max_age: nanos(limits.ttl),
    num_replicas: limits.replicas,
  };
  if (
    config.max_msgs_per_subject === wanted.max_msgs_per_subject &&
    config.max_age === wanted.max_age &&
    config.num_replicas === wanted.num_replicas
  ) {
    return;
  }
  // JetStream refuses a duplicate window longer than the max age (it shortens it on create only).
  const shorterWindow =
    wanted.max_age > 0 && (config.duplicate_window ?? 0) > wanted.max_age
      ? { duplicate_window: wanted.max_age }
      : {};
  await jsm.streams.update(stream, { ...wanted, ...shorterWindow });
}
