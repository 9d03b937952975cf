/**
 * An effect outside the bucket (an email, a webhook, a charge) run once per key, whichever
 * instance is asked and however often (`store.once`): the key is claimed before the effect runs
 * and holds its result after, so a repeated request answers with the first one's result.
 *
 * - Of instances asked at once, one claims the key (a create-only write) and runs the effect;
 *   the others wait for the result (a watch of the key), and requests of one instance for a key
 *   it is working on share that work.
 * - An effect that fails gives the key back (the claim is deleted at the revision it wrote), so
 *   a retry runs it again.
 * - An instance that dies while it runs the effect leaves its claim; once the claim is older
 *   than `leaseMs`, the next request takes it over (a conditional write of the claim it read)
 *   and runs the effect again, with the claim built from the abandoned one (the same email id,
 *   say). Leases are compared with this host's clock; keep them far longer than an effect takes.
 * - A result that cannot be stored (the bucket unavailable at that moment) is tried again, for
 *   up to half the lease; then it is still the answer, `unrecorded` is told, and the claim stays
 *   until its lease runs out.
 *
 * Claims and results are values of the store's own schema, told apart by `claimedAt`.
 */
import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { StateStore } from "./state-store.ts";

/** What `once` runs, and how it reads the key's value. */
export interface OnceEffect<Desc extends DescMessage> {
  /** The claim the key holds while the effect runs: a new one, or one taken over from `abandoned`. */
  claim(abandoned?: MessageShape<Desc>): MessageInitShape<Desc>;
  /** When `value` was claimed, in epoch milliseconds; undefined when it is a result. */
  claimedAt(value: MessageShape<Desc>): number | undefined;
  /** Runs the effect for `claim` (as stored); returns the result to keep under the key. */
  run(claim: MessageShape<Desc>): Promise<MessageInitShape<Desc>>;
}

export interface OnceOptions<Desc extends DescMessage = DescMessage> {
  /** How long a claim holds before it counts as abandoned, in milliseconds. */
  readonly leaseMs: number;
  /** How many times a request re-reads a key that changed under it before it gives up with `aborted`. */
  readonly maxAttempts: number;
  /** Told when a result could not be stored (the effect happened; the caller still gets `result`). */
  readonly unrecorded: (error: unknown, result: MessageShape<Desc>) => void;
}

export const defaultOnceOptions: OnceOptions = { leaseMs: 60_000, maxAttempts: 10, unrecorded: () => {} };

/** A store's `once`: requests for a key this instance is working on share its outcome. */
export function onceOf<Desc extends DescMessage>(store: StateStore<Desc>) {
  const inFlight = new Map<string, Promise<MessageShape<Desc>>>();
  return (key: string, effect: OnceEffect<Desc>, options: Partial<OnceOptions<Desc>> = {}) => {
    const earlier = inFlight.get(key);
    if (earlier !== undefined) return earlier;
    const outcome = runOnce(store, key, effect, { ...defaultOnceOptions, ...options }).finally(() =>
      inFlight.delete(key),
    );
    inFlight.set(key, outcome);
    return outcome;
  };
}

async function runOnce<Desc extends DescMessage>(
  store: StateStore<Desc>,
  key: string,
  effect: OnceEffect<Desc>,
  { leaseMs, maxAttempts, unrecorded }: OnceOptions<Desc>,
): Promise<MessageShape<Desc>> {
  /** Runs the effect for the claim this request wrote at `revision`, and keeps its result. */
  const runClaimed = async (claim: MessageShape<Desc>, revision: number) => {
    let result: MessageShape<Desc>;
    try {
      result = create(store.schema, await effect.run(claim));
    } catch (err) {
      // Give the key back so that a retry runs it; if this fails, the lease frees it later.
      await store.delete(key, { expectedRevision: revision }).catch(() => {});
      throw err;
    }
    // Unconditional: a request that took over a claim this one held too long ran the same claim,
    // and either result stands for it. The effect happened: recording it is worth a few tries
    // (within half the lease), since a claim left behind is run again once its lease is out.
    await recordResult(() => store.put(key, result), leaseMs / 2).catch((err: unknown) =>
      unrecorded(err, result),
    );
    return result;
  };

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const entry = await store.get(key);
    if (entry === undefined) {
      const claim = create(store.schema, effect.claim());
      const revision = await store.create(key, claim);
      if (revision !== undefined) return runClaimed(claim, revision);
      continue;
    }
    const claimedAt = effect.claimedAt(entry.value);
    if (claimedAt === undefined) return entry.value;
    const heldMs = Date.now() - claimedAt;
    if (heldMs >= leaseMs) {
      const claim = create(store.schema, effect.claim(entry.value));
      const revision = await store
        .put(key, claim, { expectedRevision: entry.revision })
        .catch((err: unknown) =>
          err instanceof ConnectError && err.code === Code.Aborted ? undefined : Promise.reject(err),
        );
      if (revision !== undefined) return runClaimed(claim, revision);
      continue;
    }
    await changeOf(store, key, entry.revision, leaseMs - heldMs);
  }
  throw new ConnectError(
    `state bucket ${store.bucket}, key "${key}" kept changing while this request waited for it; try again`,
    Code.Aborted,
  );
}

/** Resolves once `key` is past `revision` (written or deleted by its claimer), or after `timeoutMs`. */
async function changeOf<Desc extends DescMessage>(
  store: StateStore<Desc>,
  key: string,
  revision: number,
  timeoutMs: number,
): Promise<void> {
  const watch = await store.watch([key]);
  const timer = setTimeout(() => watch.stop(), timeoutMs);
  try {
    for await (const change of watch) if (change.revision > revision) return;
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
}

/** Runs `put` until it succeeds, again after 0.1, 0.2, 0.4 … s, for up to `budgetMs`; then throws its error. */
async function recordResult(put: () => Promise<unknown>, budgetMs: number): Promise<void> {
  const until = Date.now() + budgetMs;
  for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 2_000)) {
    try {
      await put();
      return;
    } catch (err) {
      // A refusal that is no outage (an oversize value, a closed store) will not change.
      if (!(err instanceof ConnectError && err.code === Code.Unavailable) || Date.now() + delayMs >= until) {
        throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
