/**
 * Durable actor state (ADR 0007, "State"): a JetStream KV bucket whose values are binary
 * protobuf messages of one schema. Every write has a revision (the stream sequence), and a
 * write may name the revision it expects, so instances of an actor share state without locks:
 * `update()` reads, changes and writes conditionally, and tries again when another writer won.
 *
 *   const users = await openStateStore(nc, { bucket: "users", schema: UserSchema });
 *   const revision = await users.create(user.id, user); // undefined if the key has a value
 *   await users.update(user.id, (u) => u && { ...u, displayName: "Ada" });
 *
 * Uses KV as nats-server 2.10 has it (multi-key watches need 2.10); the runtime requires 2.11,
 * and `openStateStore` refuses an older server. The bucket is the stream `KV_<name>`, so
 * `nats kv ls`, `nats kv get <bucket> <key>` and `nats kv watch <bucket>` show it.
 */
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Bucket, type KV, Kvm, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { isAtLeast, MIN_SERVER_VERSION, parseServerVersion } from "../protocol/server-version.ts";
import { retryDeclaration } from "./declare-streams.ts";
import { defaultReplicas } from "./default-replicas.ts";
import { isWrongLastSequence, revisionConflict, stateError, undecodableValue } from "./jetstream-errors.ts";
import { listKeys } from "./kv-keys.ts";
import { checkStateKey, checkStateKeyFilter, stateBucketName } from "./state-keys.ts";
import { mirrorState, type StateMirror } from "./state-mirror.ts";
import { type OnceEffect, type OnceOptions, onceOf } from "./state-once.ts";
import { reconcileBucket, whileJustCreated } from "./state-reconcile.ts";

export interface StateStoreOptions<Desc extends DescMessage = DescMessage> {
  /** The bucket: `[A-Za-z0-9_-]+`, prefixed by the namespace (`acme_users`). */
  readonly bucket: string;
  /** The message type of every value. */
  readonly schema: Desc;
  /** Revisions kept per key (1: the latest only); JetStream allows 1 to 64. */
  readonly history: number;
  /** How long a value lives after it was written, in milliseconds; 0 keeps it for ever. */
  readonly ttlMs: number;
  /** Copies of the bucket in a JetStream cluster: 1, 3 or 5 (unset: the connection's default, default-replicas.ts). */
  readonly replicas: number;
  /** The namespace that prefixes the bucket name, as it prefixes subjects and stream names. */
  readonly namespace: string;
  /** How many times `update()` reads and writes before it gives up with `aborted`. */
  readonly maxUpdateAttempts: number;
}

export const defaultStateStoreOptions: Omit<StateStoreOptions, "bucket" | "schema"> = {
  history: 1,
  ttlMs: 0,
  replicas: 1,
  namespace: "",
  maxUpdateAttempts: 20,
};

/** A value and the revision that wrote it. */
export interface StateEntry<Desc extends DescMessage> {
  readonly key: string;
  readonly value: MessageShape<Desc>;
  readonly revision: number;
}

/** One change seen by `watch()`: the new value, or undefined when the key was deleted. */
export interface StateChange<Desc extends DescMessage> {
  readonly key: string;
  readonly value: MessageShape<Desc> | undefined;
  readonly revision: number;
}

export interface WriteOptions {
  /**
   * Write only if the key is at this revision (`aborted` otherwise); 0 means the key must not
   * exist (never written, or deleted).
   */
  readonly expectedRevision?: number;
}

export interface StateWatchOptions {
  /** Only changes from now on; by default the current value of every matching key comes first. */
  readonly updatesOnly: boolean;
}

/** The changes of some keys, in revision order, until `stop()` (one reader). */
export interface StateWatch<Desc extends DescMessage> extends AsyncIterable<StateChange<Desc>> {
  stop(): void;
}

/**
 * Returns the value to write, given the current one (undefined when the key does not exist), or
 * undefined to write nothing. Called once per attempt, so anything else it does must be safe to
 * repeat (reads; writes that are idempotent); it may be async.
 */
export type StateUpdater<Desc extends DescMessage> = (
  current: MessageShape<Desc> | undefined,
) => MessageInitShape<Desc> | undefined | Promise<MessageInitShape<Desc> | undefined>;

export interface StateStore<Desc extends DescMessage> {
  /** The bucket's full name, namespace included. */
  readonly bucket: string;
  readonly schema: Desc;
  /** The value of `key`, or undefined when it does not exist. */
  get(key: string): Promise<StateEntry<Desc> | undefined>;
  /** Writes `key` (conditionally, with an expected revision) and returns the new revision. */
  put(key: string, value: MessageInitShape<Desc>, options?: WriteOptions): Promise<number>;
  /**
   * Create-only: writes `value` unless `key` has a value, and returns the new revision, or
   * undefined when it has one (another writer was first: nothing is written). The lost race is
   * an answer, not an error; `put` with `expectedRevision: 0` fails with `aborted` instead.
   */
  create(key: string, value: MessageInitShape<Desc>): Promise<number | undefined>;
  /**
   * First writer wins: writes `value` unless `key` has a value, and returns the value the key has
   * (this one or the one written before). For records written once and then only read, so that
   * concurrent attempts agree on one value. A key deleted between the two steps is `aborted`.
   */
  claim(key: string, value: MessageShape<Desc>): Promise<MessageShape<Desc>>;
  /** Deletes `key` (leaving a delete marker that watchers see), if at `expectedRevision` when given. */
  delete(key: string, options?: WriteOptions): Promise<void>;
  /**
   * Removes every revision of `key` and leaves no delete marker (a purge of the key's subject in
   * the bucket's stream): nothing of the key stays, so `keys()` and a new watch cost what the
   * bucket holds now, not every key it ever held. For buckets whose keys come and go, such as an
   * outbox. Unconditional, and watchers see nothing: use `delete` where either matters.
   */
  forget(key: string): Promise<void>;
  /** The keys that have a value, sorted; meant for buckets of modest size. */
  keys(): Promise<string[]>;
  /**
   * Follows `keys` (keys or filters with `*` and `>`; every key when omitted). Resolves once the
   * watch is in place: every change after that is delivered.
   */
  watch(keys?: readonly string[], options?: Partial<StateWatchOptions>): Promise<StateWatch<Desc>>;
  /**
   * A copy in memory of the whole bucket, kept current by one watch, with its changes for
   * readers (state-mirror.ts): for buckets of modest size that many reads need.
   */
  mirror(): Promise<StateMirror<Desc>>;
  /**
   * Runs an effect outside the bucket (an email, a webhook) once per key: claims the key, runs
   * `effect.run`, keeps its result; later and concurrent requests answer with that result, and
   * an abandoned claim is taken over after `leaseMs` (state-once.ts). Resolves with the result.
   */
  once(
    key: string,
    effect: OnceEffect<Desc>,
    options?: Partial<OnceOptions<Desc>>,
  ): Promise<MessageShape<Desc>>;
  /**
   * Read-modify-write: applies `fn` to the current value and writes the result if nobody wrote
   * in between, else reads again (with a randomised back-off), up to `maxUpdateAttempts` times,
   * then fails with `aborted`. Returns the entry as it now stands (undefined if `fn` left a
   * missing key missing).
   */
  update(key: string, fn: StateUpdater<Desc>): Promise<StateEntry<Desc> | undefined>;
}

/** What `openStateStore` must be told; everything else has a default. */
type RequiredOptions<Desc extends DescMessage> = Pick<StateStoreOptions<Desc>, "bucket" | "schema">;

/** Opens the bucket, creating it (or bringing its limits up to date) if needed. */
export async function openStateStore<Desc extends DescMessage>(
  nc: NatsConnection,
  partial: RequiredOptions<Desc> & Partial<StateStoreOptions<Desc>>,
): Promise<StateStore<Desc>> {
  const options = resolveOptions({ ...partial, replicas: partial.replicas ?? defaultReplicas(nc) });
  const bucket = stateBucketName(options.bucket, options.namespace);
  const where = `state bucket ${bucket}`;
  checkServer(nc, where);
  let kv: KV;
  try {
    const limits = { history: options.history, ttl: options.ttlMs, replicas: options.replicas };
    // Leader reads (no direct gets): on a cluster a direct get may be answered by a replica
    // that has not applied the latest write, and state decides on what it reads (ADR 0020).
    kv = await retryDeclaration(() =>
      whileJustCreated(() => new Kvm(nc).create(bucket, { ...limits, allow_direct: false })),
    );
    await retryDeclaration(() => reconcileBucket(nc, bucket, limits));
  } catch (err) {
    throw stateError(err, where, true);
  }
  return createStateStore(kv, bucket, options);
}

function createStateStore<Desc extends DescMessage>(
  kv: KV,
  bucket: string,
  options: StateStoreOptions<Desc>,
): StateStore<Desc> {
  const { schema } = options;
  const where = (key: string) => `state bucket ${bucket}, key "${key}"`;
  const encode = (value: MessageInitShape<Desc>) => toBinary(schema, create(schema, value));
  const decode = (key: string, bytes: Uint8Array): MessageShape<Desc> => {
    try {
      return fromBinary(schema, bytes);
    } catch (err) {
      throw undecodableValue(where(key), schema.typeName, err);
    }
  };

  /** The latest revision of a key (0: never written) and its value (undefined: deleted). */
  const read = async (key: string): Promise<{ value?: MessageShape<Desc>; revision: number }> => {
    checkStateKey(key, bucket);
    const entry = await kv.get(key).catch((err: unknown) => {
      throw stateError(err, where(key));
    });
    if (entry === null) return { revision: 0 };
    if (entry.operation !== "PUT") return { revision: entry.revision };
    return { value: decode(key, entry.value), revision: entry.revision };
  };

  /** A write that fails with `aborted` when the key is not at `expected`. */
  const write = async (key: string, expected: number | undefined, publish: () => Promise<number>) => {
    try {
      return await publish();
    } catch (err) {
      throw isWrongLastSequence(err)
        ? revisionConflict(where(key), expected, err)
        : stateError(err, where(key));
    }
  };

  /** A create-only write: the new revision, or undefined when the key has a value. */
  const createOnly = async (key: string, value: MessageInitShape<Desc>): Promise<number | undefined> => {
    checkStateKey(key, bucket);
    const data = encode(value);
    try {
      // KV's `create` also takes a key whose latest entry is a delete marker.
      return await kv.create(key, data);
    } catch (err) {
      if (isWrongLastSequence(err)) return undefined;
      throw stateError(err, where(key));
    }
  };

  const store: StateStore<Desc> = {
    bucket,
    schema,
    create: createOnly,

    async get(key) {
      const { value, revision } = await read(key);
      return value === undefined ? undefined : { key, value, revision };
    },

    async put(key, value, { expectedRevision } = {}) {
      checkStateKey(key, bucket);
      const data = encode(value);
      if (expectedRevision === undefined) return write(key, undefined, () => kv.put(key, data));
      checkRevision(expectedRevision);
      // `create` also takes a key whose latest entry is a delete marker.
      if (expectedRevision === 0) return write(key, 0, () => kv.create(key, data));
      return write(key, expectedRevision, () => kv.update(key, data, expectedRevision));
    },

    async claim(key, value) {
      if ((await createOnly(key, value)) !== undefined) return value;
      const holder = await read(key);
      if (holder.value === undefined) {
        throw new ConnectError(`${where(key)}: the value claimed first was deleted; try again`, Code.Aborted);
      }
      return holder.value;
    },

    async delete(key, { expectedRevision } = {}) {
      checkStateKey(key, bucket);
      if (expectedRevision !== undefined) {
        checkRevision(expectedRevision);
        if (expectedRevision === 0) {
          throw new RangeError("delete: expectedRevision must be >= 1 (0 would mean the key must not exist)");
        }
      }
      const opts = expectedRevision === undefined ? {} : { previousSeq: expectedRevision };
      await write(key, expectedRevision, () => kv.delete(key, opts).then(() => 0));
    },

    async forget(key) {
      checkStateKey(key, bucket);
      // KV's own purge keeps a marker for ever; a stream purge filtered to the key's subject
      // (named by the KV library itself) keeps nothing.
      if (!(kv instanceof Bucket)) throw new TypeError("forget: not a JetStream KV bucket");
      await kv.jsm.streams.purge(kv.stream, { filter: kv.subjectForKey(key) }).catch((err: unknown) => {
        throw stateError(err, where(key));
      });
    },

    async keys() {
      try {
        return await listKeys(kv);
      } catch (err) {
        throw stateError(err, `state bucket ${bucket}`);
      }
    },

    async watch(keys, partial = {}) {
      if (keys !== undefined && keys.length === 0)
        throw new RangeError("watch: name at least one key, or none");
      for (const key of keys ?? []) checkStateKeyFilter(key, bucket);
      const entries = await kv
        .watch({
          key: keys === undefined ? ">" : [...keys],
          include: partial.updatesOnly === true ? KvWatchInclude.UpdatesOnly : KvWatchInclude.LastValue,
        })
        .catch((err: unknown) => {
          throw stateError(err, `state bucket ${bucket}`);
        });
      return {
        stop: () => entries.stop(),
        async *[Symbol.asyncIterator]() {
          try {
            for await (const entry of entries) {
              const value = entry.operation === "PUT" ? decode(entry.key, entry.value) : undefined;
              yield { key: entry.key, value, revision: entry.revision };
            }
          } finally {
            entries.stop();
          }
        },
      };
    },

    mirror: () => mirrorState(store),
    once: (key, effect, onceOptions) => once(key, effect, onceOptions),

    async update(key, fn) {
      for (let attempt = 1; ; attempt++) {
        const current = await read(key);
        const next = await fn(current.value);
        if (next === undefined) {
          return current.value === undefined
            ? undefined
            : { key, value: current.value, revision: current.revision };
        }
        const value = create(schema, next);
        const data = toBinary(schema, value);
        try {
          // previousSeq 0 means "no entry at all"; a delete marker has a revision of its own.
          const revision = await kv.put(key, data, { previousSeq: current.revision });
          return { key, value, revision };
        } catch (err) {
          if (!isWrongLastSequence(err)) throw stateError(err, where(key));
          if (attempt >= options.maxUpdateAttempts) {
            const conflict = revisionConflict(where(key), current.revision, err);
            throw new ConnectError(
              `${conflict.rawMessage} (gave up after ${attempt} attempts)`,
              Code.Aborted,
              undefined,
              undefined,
              err,
            );
          }
          await backOff(attempt);
        }
      }
    },
  };
  const once = onceOf(store);
  return store;
}

function resolveOptions<Desc extends DescMessage>(
  partial: RequiredOptions<Desc> & Partial<StateStoreOptions<Desc>>,
): StateStoreOptions<Desc> {
  const options: StateStoreOptions<Desc> = { ...defaultStateStoreOptions, ...partial };
  const { history, ttlMs, replicas, maxUpdateAttempts } = options;
  if (!Number.isInteger(history) || history < 1 || history > 64) {
    throw new RangeError(`history must be an integer from 1 to 64, got ${history}`);
  }
  if (!Number.isInteger(ttlMs) || ttlMs < 0)
    throw new RangeError(`ttlMs must be an integer >= 0, got ${ttlMs}`);
  if (![1, 3, 5].includes(replicas)) throw new RangeError(`replicas must be 1, 3 or 5, got ${replicas}`);
  if (!Number.isInteger(maxUpdateAttempts) || maxUpdateAttempts < 1) {
    throw new RangeError(`maxUpdateAttempts must be an integer >= 1, got ${maxUpdateAttempts}`);
  }
  return options;
}

function checkRevision(revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new RangeError(`expectedRevision must be an integer >= 0, got ${revision}`);
  }
}

/** Refuses a server older than the runtime supports (principle 2 of docs/design.md). */
function checkServer(nc: NatsConnection, where: string): void {
  const version = nc.info?.version ?? "";
  const reported = parseServerVersion(version);
  const min = parseServerVersion(MIN_SERVER_VERSION);
  if (reported !== undefined && min !== undefined && isAtLeast(reported, min)) return;
  throw new ConnectError(
    `${where}: nats-server ${version || "(unknown version)"} is too old, Troupe needs ${MIN_SERVER_VERSION} or newer`,
    Code.FailedPrecondition,
  );
}

/**
 * Full jitter: a random wait of up to 2^attempt ms, at most 250 ms, so that writers that lost
 * the same race do not meet again at once.
 */
function backOff(attempt: number): Promise<void> {
  const ceilingMs = Math.min(250, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceilingMs));
}
