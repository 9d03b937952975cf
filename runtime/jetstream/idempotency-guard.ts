/**
 * The idempotency guard of docs/adr/0007-events-queues-and-dead-letters.md: the ids of messages a
 * consumer has handled, kept in the KV bucket `troupe_processed` under `<consumer>.<id>` for a
 * TTL. A message redelivered after its handler succeeded (the ack was lost: a crash or a server
 * restart between success and ack) is then acknowledged without running the handler again.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { processedBucketName, processedKey } from "../protocol/subjects.ts";
import { retryDeclaration } from "./declare-streams.ts";

export interface IdempotencyGuardOptions {
  readonly namespace: string;
  /** How long a handled id is remembered: longer than a message can be redelivered. */
  readonly ttlMs: number;
  readonly replicas: number;
}

export const defaultIdempotencyGuardOptions: IdempotencyGuardOptions = {
  namespace: "",
  ttlMs: 24 * 60 * 60_000,
  replicas: 1,
};

export interface IdempotencyGuard {
  readonly bucket: string;
  /** True when `consumer` already handled the message `id`. */
  handled(consumer: string, id: string): Promise<boolean>;
  /** Records that `consumer` handled the message `id`. */
  record(consumer: string, id: string): Promise<void>;
}

const EMPTY = new Uint8Array(0);

/**
 * Opens the bucket, creating it when missing. The bucket's TTL is set by whoever creates it; an
 * existing bucket is used as it is.
 */
export async function openIdempotencyGuard(
  js: JetStreamClient,
  partial: Partial<IdempotencyGuardOptions> = {},
): Promise<IdempotencyGuard> {
  const options = { ...defaultIdempotencyGuardOptions, ...partial };
  const bucket = processedBucketName(options.namespace);
  const kv: KV = await retryDeclaration(() =>
    new Kvm(js).create(bucket, {
      ttl: options.ttlMs,
      history: 1,
      replicas: options.replicas,
      description: "Troupe idempotency guard: ids of handled messages",
      // Leader reads: a replica behind its leader would report a handled message as new.
      allow_direct: false,
    }),
  );
  return {
    bucket,
    async handled(consumer, id) {
      const entry = await kv.get(processedKey(consumer, id));
      return entry !== null && entry.operation === "PUT";
    },
    async record(consumer, id) {
      await kv.put(processedKey(consumer, id), EMPTY);
    },
  };
}
