/**
 * The contract descriptors of a system (docs/adr/0022-contract-descriptors.md): one serialized
 * `google.protobuf.FileDescriptorSet` per SHA-256 in the KV bucket `troupe_descriptors`
 * (namespaced: `acme_troupe_descriptors`), keyed by the hash in hex. A value is a fact: it is
 * written once (a create-only put; the second instance with the same contracts finds it there),
 * never changed, and never expires. Every actor stores its own set at start and names the hash in
 * its `$SRV` metadata; tools read it back by that name.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { DescriptorSet } from "../protocol/descriptor-set.ts";
import { isPayloadTooLarge } from "../protocol/errors.ts";
import { descriptorsBucketName } from "../protocol/subjects.ts";
import { defaultReplicas } from "./default-replicas.ts";
import {
  isJetStreamMissing,
  isTransientDeclarationError,
  isWrongLastSequence,
  stateError,
} from "./jetstream-errors.ts";
import { reconcileBucket, whileJustCreated } from "./state-reconcile.ts";

export interface DescriptorStoreOptions {
  /** Prefixes the bucket name, as it prefixes subjects. */
  readonly namespace: string;
  /** Copies of the bucket in a JetStream cluster: 1, 3 or 5 (unset: the connection's default, default-replicas.ts). */
  readonly replicas: number;
}

export const defaultDescriptorStoreOptions: DescriptorStoreOptions = { namespace: "", replicas: 1 };

/**
 * What `storeDescriptors` found: it wrote the set, the set was there already (another instance or
 * an earlier start wrote it), or the server has no JetStream, so there is nowhere to keep it.
 */
export type DescriptorsStored = "stored" | "existed" | "no-jetstream";

/** A fact never expires (docs/adr/0017-facts-never-expire.md); one value per key is all there is. */
const LIMITS = { history: 1, ttl: 0 } as const;

/**
 * Stores `set` under its hash unless it is there. Fails with `unavailable` when JetStream did not
 * answer (worth another try later), with `resource_exhausted` for a set larger than the server
 * takes, and otherwise as the KV operation failed.
 */
export async function storeDescriptors(
  nc: NatsConnection,
  set: DescriptorSet,
  partial: Partial<DescriptorStoreOptions> = {},
): Promise<DescriptorsStored> {
  const options = { ...defaultDescriptorStoreOptions, ...partial };
  const bucket = descriptorsBucketName(options.namespace);
  const limits = { ...LIMITS, replicas: partial.replicas ?? defaultReplicas(nc) };
  let kv: KV;
  try {
    // Every actor of a system opens this bucket at start, often at the same moment: on a cluster
    // one may find it "not found" for a moment, so that is asked again (whileJustCreated). No
    // answer at all is not retried here: the caller warns and stores the set later
    // (publish-descriptors.ts), so a start does not wait for JetStream.
    kv = await whileJustCreated(() =>
      new Kvm(nc).create(bucket, {
        ...limits,
        description: "Troupe contract descriptors: FileDescriptorSets by SHA-256",
        // Leader reads: a replica behind its leader would not know a set just stored (ADR 0020).
        allow_direct: false,
      }),
    );
    await reconcileBucket(nc, bucket, limits);
  } catch (err) {
    if (isJetStreamMissing(err)) return "no-jetstream";
    throw storeError(err, `descriptors bucket ${bucket}`, set, true);
  }
  try {
    // The first write may meet the same moment on a cluster: a put answered "stream not found"
    // by a server that has not caught up with the bucket another actor just created (seen in
    // the chaos suite's cluster start, where it stopped an actor's start).
    await whileJustCreated(() => kv.create(set.hash, set.bytes));
    return "stored";
  } catch (err) {
    if (isWrongLastSequence(err)) return "existed";
    throw storeError(err, `descriptors bucket ${bucket}, key ${set.hash}`, set, false);
  }
}

/**
 * The set stored under `hash` in `bucket` (as discovery metadata names them), or undefined when the
 * bucket holds no such key. A missing bucket is `failed_precondition`; no answer, `unavailable`.
 */
export async function loadDescriptors(
  nc: NatsConnection,
  bucket: string,
  hash: string,
): Promise<Uint8Array | undefined> {
  const where = `descriptors bucket ${bucket}, key ${hash}`;
  try {
    const kv = await new Kvm(nc).open(bucket);
    const entry = await kv.get(hash);
    return entry !== null && entry.operation === "PUT" ? entry.value : undefined;
  } catch (err) {
    throw stateError(err, where, true);
  }
}

function storeError(err: unknown, where: string, set: DescriptorSet, opening: boolean): unknown {
  if (err instanceof ConnectError) return err;
  if (isPayloadTooLarge(err)) {
    return new ConnectError(
      `${where}: the contract descriptors (${set.bytes.length} bytes) exceed the server's max_payload`,
      Code.ResourceExhausted,
      undefined,
      undefined,
      err,
    );
  }
  if (isTransientDeclarationError(err)) {
    return new ConnectError(
      `${where}: JetStream did not answer`,
      Code.Unavailable,
      undefined,
      undefined,
      err,
    );
  }
  return stateError(err, where, opening);
}
