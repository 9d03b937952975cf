/**
 * Placement of a keyed service's partitions on its instances, with nats-server alone
 * (docs/adr/0032-keyed-virtual-actors.md). No placement service, no membership table of our own:
 *
 * - **Membership.** Each instance puts `<Service>.m.<instance>` into the KV bucket
 *   `troupe_placement` every `renewMs`. The bucket's TTL is the lease time, and its subject delete
 *   markers (ADR-43) tell every watcher when a key expired, so a dead instance leaves the
 *   member list one lease time after its last renewal.
 * - **Assignment.** Every instance computes the same owner for each partition from the member
 *   list by rendezvous hashing (highest FNV-1a of `instance:partition`), so a join or a leave
 *   moves only the partitions it must.
 * - **Ownership.** A partition is owned through its lease key `<Service>.p.<n>`: taken with a KV
 *   `create` (which succeeds only when the key is absent, deleted or expired), renewed with a
 *   revision-checked `update`, given up with a revision-checked `delete` once the partition's
 *   turns have ended. The revision of the `create` is the lease's epoch: it only grows.
 *
 * At most one owner: an instance serves a partition only until `ttl - margin` after it last
 * sent a renewal that succeeded, and the key expires on the server no sooner than `ttl` after
 * that renewal was written, which is after it was sent; a new owner can only `create` the key
 * after that. A renewal that fails with "wrong last sequence" means the lease is gone: the
 * partition is dropped at once.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/nats-core";
import { DECLARATION_TIMEOUT_MS, retryDeclaration } from "../jetstream/declare-streams.ts";
import { defaultReplicas } from "../jetstream/default-replicas.ts";
import { isWrongLastSequence } from "../jetstream/jetstream-errors.ts";
import { listKeys } from "../jetstream/kv-keys.ts";
import { reconcileBucket, whileJustCreated } from "../jetstream/state-reconcile.ts";
import { errorFields, type Logger } from "../observability/logger.ts";
import { placementBucketName } from "../protocol/subjects.ts";

export interface PlacementOptions {
  readonly service: DescService;
  readonly partitions: number;
  readonly instanceId: string;
  readonly namespace: string;
  /** How long a lease and a membership live without renewal: a dead owner's partitions move after it. */
  readonly leaseMs: number;
  /** How often leases and membership are renewed and the assignment is checked. */
  readonly renewMs: number;
  readonly logger: Logger;
  /** Called when this instance took partition `partition` with lease epoch `epoch`: start serving it. */
  readonly onAcquire: (partition: number, epoch: number) => void | Promise<void>;
  /**
   * Called when this instance gives a partition up (`rebalance`, `stop`) or lost it (`lost`):
   * stop serving it and resolve once its turns have ended. Nothing else runs for the partition
   * until it resolves; for `rebalance` and `stop` the lease is deleted after it.
   */
  readonly onRelease: (partition: number, reason: ReleaseReason) => Promise<void>;
}

export type ReleaseReason = "rebalance" | "lost" | "stop";

export const defaultPlacementTiming = { leaseMs: 3_000, renewMs: 1_000 } as const;

export interface Placement {
  /** The lease epoch of `partition` while this instance may serve it; undefined otherwise. */
  epochOf(partition: number): number | undefined;
  /** True while this instance may still commit a turn of `partition` under lease `epoch`. */
  holds(partition: number, epoch: number): boolean;
  /** The partitions this instance serves now. */
  owned(): number[];
  /** The instances alive, as the watch last saw them (this one included). */
  members(): string[];
  /** Counts for STATS: partitions taken, given up and lost since the start. */
  readonly counts: { readonly acquired: number; readonly released: number; readonly lost: number };
  /** Gives every partition up (each after its turns ended) and leaves the member list. */
  stop(): Promise<void>;
}

/** Renewals between two readings of the whole placement from the bucket. */
const RESYNC_EVERY = 5;

/** Keeps the renewal this far inside the lease: a renewal in flight, timer slack. */
const SAFETY_MARGIN_FRACTION = 0.2;

interface Lease {
  epoch: number;
  revision: number;
  /** performance.now() until which this instance may serve the partition. */
  validUntil: number;
  releasing: boolean;
  /** The renewal in flight, which a release waits for so that its delete names the last revision. */
  renewing: Promise<number> | undefined;
}

export async function startPlacement(nc: NatsConnection, options: PlacementOptions): Promise<Placement> {
  const { service, partitions, instanceId, leaseMs, renewMs, logger } = options;
  if (!(renewMs > 0) || !(leaseMs >= 2 * renewMs)) {
    throw new Error("placement: renewMs must be > 0 and leaseMs at least twice renewMs");
  }
  const bucket = placementBucketName(options.namespace);
  const kv = await openPlacementBucket(nc, bucket, leaseMs);
  const prefix = service.typeName;
  const memberKey = `${prefix}.m.${instanceId}`;
  const leaseKey = (p: number) => `${prefix}.p.${p}`;
  const margin = Math.max(renewMs, leaseMs * SAFETY_MARGIN_FRACTION);
  const value = new TextEncoder().encode(JSON.stringify({ instance: instanceId }));

  const members = new Set<string>([instanceId]);
  /** Owner of each partition's lease, as the watch saw it. */
  const holders = new Map<number, string>();
  const mine = new Map<number, Lease>();
  const counts = { acquired: 0, released: 0, lost: 0 };
  let stopping = false;

  const lose = (p: number, why: string) => {
    const lease = mine.get(p);
    if (lease === undefined) return;
    mine.delete(p);
    counts.lost++;
    logger.log("warn", "a partition's lease was lost; its calls go to the next owner", {
      service: service.typeName,
      partition: p,
      epoch: lease.epoch,
      why,
    });
    void options.onRelease(p, "lost").catch((err) => {
      logger.log("error", "releasing a lost partition failed", errorFields(err));
    });
  };

  const renew = async () => {
    const sentAt = performance.now();
    await Promise.all([
      kv.put(memberKey, value).catch((err) => {
        logger.log("warn", "renewing membership failed", { service: service.typeName, ...errorFields(err) });
      }),
      ...[...mine].map(async ([p, lease]) => {
        try {
          lease.renewing = kv.update(leaseKey(p), value, lease.revision);
          lease.revision = await lease.renewing;
          if (mine.get(p) === lease) lease.validUntil = sentAt + leaseMs - margin;
        } catch (err) {
          if (isWrongLastSequence(err)) lose(p, "its lease key changed: another instance holds it");
          // Otherwise the lease stands until validUntil; the next renewal tries again.
        }
      }),
    ]);
    const now = performance.now();
    for (const [p, lease] of mine) {
      if (lease.validUntil <= now) lose(p, "renewals failed for the whole lease time");
    }
  };

  const acquire = async (p: number) => {
    const sentAt = performance.now();
    let revision: number;
    try {
      revision = await kv.create(leaseKey(p), value);
    } catch {
      return; // Held by another instance (or the server is away): the next check tries again.
    }
    if (stopping) {
      await kv.delete(leaseKey(p), { previousSeq: revision }).catch(() => {});
      return;
    }
    const lease: Lease = {
      epoch: revision,
      revision,
      validUntil: sentAt + leaseMs - margin,
      releasing: false,
      renewing: undefined,
    };
    mine.set(p, lease);
    holders.set(p, instanceId);
    counts.acquired++;
    try {
      await options.onAcquire(p, revision);
    } catch (err) {
      logger.log("error", "serving a taken partition failed; giving it up", errorFields(err));
      await release(p, "rebalance");
    }
  };

  const release = async (p: number, reason: ReleaseReason) => {
    const lease = mine.get(p);
    if (lease === undefined || lease.releasing) return;
    lease.releasing = true;
    try {
      await options.onRelease(p, reason);
    } catch (err) {
      logger.log("error", "releasing a partition failed", errorFields(err));
    }
    if (mine.get(p) !== lease) return; // lost meanwhile
    mine.delete(p);
    counts.released++;
    // No renewal starts for it any more; one in flight would make the delete's revision stale.
    await lease.renewing?.catch(() => {});
    await kv.delete(leaseKey(p), { previousSeq: lease.revision }).catch(() => {
      // Renewed meanwhile or the server is away: the key expires after the lease time.
    });
  };

  const check = async () => {
    const alive = [...members].sort();
    const work: Promise<void>[] = [];
    for (let p = 0; p < partitions; p++) {
      const wanted = rendezvousOwner(p, alive);
      const lease = mine.get(p);
      if (lease === undefined) {
        if (wanted === instanceId && !holders.has(p)) work.push(acquire(p));
      } else if (wanted !== instanceId && !lease.releasing) {
        work.push(release(p, "rebalance"));
      }
    }
    await Promise.all(work);
  };

  // One check at a time; a change seen meanwhile runs one more after it.
  let checking: Promise<void> | undefined;
  let again = false;
  const requestCheck = () => {
    if (stopping) return;
    if (checking !== undefined) {
      again = true;
      return;
    }
    checking = (async () => {
      try {
        do {
          again = false;
          await check();
        } while (again && !stopping);
      } catch (err) {
        logger.log("error", "placement check failed", errorFields(err));
      } finally {
        checking = undefined;
      }
    })();
  };

  const onEntry = (entry: KvEntry | KvWatchEntry) => {
    const rest = entry.key.slice(prefix.length + 1);
    const gone = entry.operation !== "PUT";
    if (rest.startsWith("m.")) {
      const member = rest.slice(2);
      if (gone) {
        if (member !== instanceId) members.delete(member);
      } else if (!members.has(member)) {
        members.add(member);
      } else {
        return;
      }
    } else if (rest.startsWith("p.")) {
      const p = Number(rest.slice(2));
      if (!Number.isInteger(p)) return;
      if (gone) {
        holders.delete(p);
      } else {
        const holder = holderOf(entry.value);
        if (holders.get(p) === holder) return;
        holders.set(p, holder);
        const lease = mine.get(p);
        if (lease !== undefined && holder !== instanceId) lose(p, `instance ${holder} holds its lease`);
      }
    } else {
      return;
    }
    requestCheck();
  };

  await whileJustCreated(() => kv.put(memberKey, value));
  const watch: QueuedIterator<KvWatchEntry> = await kv.watch({ key: `${prefix}.>` });
  let watching: Promise<void> | undefined;
  const initialDone = new Promise<void>((resolve) => {
    watching = (async () => {
      // The initial values end with an entry whose `delta` is 0; a bucket without values
      // for this service has none, so the first check also runs after a renewal interval.
      const fallback = setTimeout(resolve, renewMs);
      try {
        for await (const entry of watch) {
          onEntry(entry);
          if (entry.delta === 0) resolve();
        }
      } finally {
        clearTimeout(fallback);
        resolve();
      }
    })();
  });
  await initialDone;

  // The watch tells of every change, but a marker it missed (a long disconnection outlasting the
  // markers' TTL) would leave a dead member or an expired lease in the view for ever: every few
  // renewals the view is read again from the bucket.
  const resync = async () => {
    const present = new Set<string>();
    try {
      for (const key of await listKeys(kv, `${prefix}.>`)) present.add(key);
    } catch (err) {
      logger.log("warn", "reading the placement again failed", {
        service: service.typeName,
        ...errorFields(err),
      });
      return;
    }
    for (const member of [...members]) {
      if (member !== instanceId && !present.has(`${prefix}.m.${member}`)) members.delete(member);
    }
    for (const p of [...holders.keys()]) {
      if (!present.has(leaseKey(p)) && !mine.has(p)) holders.delete(p);
    }
  };
  let ticks = 0;
  const timer = setInterval(() => {
    const tick = ++ticks;
    void renew()
      .then(() => (tick % RESYNC_EVERY === 0 ? resync() : undefined))
      .then(requestCheck);
  }, renewMs);
  requestCheck();

  return {
    epochOf(p) {
      const lease = mine.get(p);
      if (lease === undefined || lease.releasing || lease.validUntil <= performance.now()) return undefined;
      return lease.epoch;
    },
    holds(p, epoch) {
      const lease = mine.get(p);
      return lease !== undefined && lease.epoch === epoch && lease.validUntil > performance.now();
    },
    owned: () => [...mine].filter(([, lease]) => !lease.releasing).map(([p]) => p),
    members: () => [...members].sort(),
    counts,
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      await checking;
      await Promise.all([...mine.keys()].map((p) => release(p, "stop")));
      await kv.delete(memberKey).catch(() => {});
      watch.stop();
      await watching;
    },
  };
}

async function openPlacementBucket(nc: NatsConnection, bucket: string, leaseMs: number): Promise<KV> {
  const replicas = defaultReplicas(nc);
  const kv = await retryDeclaration(() =>
    new Kvm(nc).create(bucket, {
      history: 1,
      ttl: leaseMs,
      // Expired keys leave a marker, so watchers learn at once that a member or lease is gone.
      markerTTL: leaseMs,
      replicas,
      timeout: DECLARATION_TIMEOUT_MS,
    }),
  );
  await whileJustCreated(() => reconcileBucket(nc, bucket, { history: 1, ttl: leaseMs, replicas }));
  return kv;
}

/**
 * The member that owns partition `p` among `members`: the highest rendezvous score of
 * `<member>:<p>`, ties to the smaller id. Every instance computes it from the same view, and a
 * member's arrival or departure moves only the partitions it wins or held. With few partitions
 * per member, a member may win none: the spread is even only on average.
 */
export function rendezvousOwner(p: number, members: readonly string[]): string {
  let best = "";
  let bestScore = -1;
  for (const member of members) {
    const rank = score(`${member}:${p}`);
    if (rank > bestScore || (rank === bestScore && member < best)) {
      best = member;
      bestScore = rank;
    }
  }
  return best;
}

function holderOf(value: Uint8Array): string {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(value));
    if (typeof parsed === "object" && parsed !== null && "instance" in parsed) {
      return String((parsed as { instance: unknown }).instance);
    }
  } catch {
    // Not ours: counted as held by nobody we know.
  }
  return "";
}

/**
 * The rendezvous score: FNV-1a (32 bits) of a string's UTF-16 code units (ASCII here: instance
 * ids and numbers), then MurmurHash3's finalizer, so that ids differing only in their last
 * characters (nuids of one process) still score independently.
 */
function score(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
