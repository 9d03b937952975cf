/**
 * A copy in memory of a whole state bucket, kept current by one watch (`store.mirror()`): reads
 * answer at once, without a round trip, and a change written by any instance reaches every
 * instance's copy and its readers of changes. For buckets of modest size that many reads need
 * (a catalogue, settings); each instance holds every value.
 *
 * The copy follows the bucket first and reads it then, so a change in between is not missed; it
 * keeps the revision it applied last per key (deletions too) and ignores older ones, so the
 * initial read, the watch and the writer's own `apply` (read your writes, before the watch echoes
 * them) can arrive in any order. The watch ends with `close()` or the connection; it fails when it
 * cannot be re-established or a value does not decode, and the copy is then stale: `stopped`
 * says so, for the owner to log.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { StateEntry, StateStore } from "./state-store.ts";

/** One change of the copy: the value before it (as the copy had it) and after. */
export interface MirroredChange<Desc extends DescMessage> {
  readonly key: string;
  /** The new value; undefined when the key was deleted. */
  readonly value: MessageShape<Desc> | undefined;
  /** The value before; undefined for a key the copy did not have. */
  readonly previous: MessageShape<Desc> | undefined;
  readonly revision: number;
}

export interface StateMirror<Desc extends DescMessage> {
  /** The value of `key`, or undefined. */
  get(key: string): MessageShape<Desc> | undefined;
  /** Every value, in key order (the same array until the next change). */
  values(): readonly MessageShape<Desc>[];
  /** Takes in an entry this instance wrote, before the watch brings it (an older revision is ignored). */
  apply(entry: StateEntry<Desc>): void;
  /**
   * The changes from now on (the reader is registered at once, not at its first read), in the
   * order the copy applied them; they queue while the reader is slower. It ends when `signal`
   * aborts, the mirror closes or the reader returns; changes not yet read are then dropped.
   */
  changes(signal?: AbortSignal): AsyncIterable<MirroredChange<Desc>>;
  /** Resolves when the copy stops following the bucket: undefined after `close()`, else the watch's error. */
  readonly stopped: Promise<unknown>;
  /** Stops following the bucket; every reader of changes ends. */
  close(): void;
}

type Change<Desc extends DescMessage> = MirroredChange<Desc>;

export async function mirrorState<Desc extends DescMessage>(
  store: StateStore<Desc>,
): Promise<StateMirror<Desc>> {
  const watch = await store.watch(undefined, { updatesOnly: true });
  const values = new Map<string, MessageShape<Desc>>();
  const revisions = new Map<string, number>();
  const listeners = new Set<(change: Change<Desc>) => void>();
  const closing = new AbortController();
  let sorted: MessageShape<Desc>[] | undefined;

  const apply = (key: string, value: MessageShape<Desc> | undefined, revision: number) => {
    if ((revisions.get(key) ?? 0) >= revision) return; // applied already, or older than what was
    revisions.set(key, revision);
    const previous = values.get(key);
    if (value === undefined) values.delete(key);
    else values.set(key, value);
    sorted = undefined;
    const change = { key, value, previous, revision };
    for (const listener of [...listeners]) listener(change);
  };

  try {
    const entries = await Promise.all((await store.keys()).map((key) => store.get(key)));
    for (const entry of entries) if (entry !== undefined) apply(entry.key, entry.value, entry.revision);
  } catch (err) {
    watch.stop();
    throw err;
  }
  const stopped = (async () => {
    for await (const change of watch) apply(change.key, change.value, change.revision);
  })().then(
    () => undefined,
    (err: unknown) => err,
  );

  const changes = (signal?: AbortSignal): AsyncIterable<Change<Desc>> => {
    const queue: Change<Desc>[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const listener = (change: Change<Desc>) => {
      queue.push(change);
      wake?.();
    };
    const end = () => {
      if (ended) return;
      ended = true;
      listeners.delete(listener);
      signal?.removeEventListener("abort", end);
      closing.signal.removeEventListener("abort", end);
      wake?.();
    };
    listeners.add(listener);
    if (signal?.aborted === true || closing.signal.aborted) end();
    signal?.addEventListener("abort", end, { once: true });
    closing.signal.addEventListener("abort", end, { once: true });
    const iterator: AsyncIterator<Change<Desc>> = {
      async next() {
        for (;;) {
          if (ended) return { done: true, value: undefined };
          const change = queue.shift();
          if (change !== undefined) return { done: false, value: change };
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      },
      async return() {
        end();
        return { done: true, value: undefined };
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  };

  return {
    get: (key) => values.get(key),
    values() {
      sorted ??= [...values.keys()].sort().map((key) => values.get(key) as MessageShape<Desc>);
      return sorted;
    },
    apply: (entry) => apply(entry.key, entry.value, entry.revision),
    changes,
    stopped,
    close() {
      watch.stop();
      closing.abort();
    },
  };
}
