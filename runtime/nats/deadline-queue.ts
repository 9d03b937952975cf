/**
 * Deadlines for many concurrent calls on one timer. A binary min-heap ordered by deadline, with
 * O(log n) removal, so a call that completes leaves nothing behind; one `setTimeout` is armed for
 * the earliest deadline. Per call this costs one small object instead of a timer (the unary hot
 * path runs tens of thousands of calls a second). Entries are the callers' own call objects,
 * so scheduling allocates nothing.
 */
export interface DeadlineEntry {
  /** `performance.now()` time at which the entry expires. */
  readonly deadline: number;
  /** Position in the heap, kept by the queue; -1 when not scheduled. Start with -1. */
  index: number;
}

export interface DeadlineQueue<E extends DeadlineEntry> {
  /** Passes `entry` to the queue's `onExpire` at `entry.deadline` unless cancelled first. */
  schedule(entry: E): void;
  /** Removes an entry; a no-op for one that already expired or was cancelled. */
  cancel(entry: E): void;
  /** A snapshot of the scheduled entries, in no particular order. */
  entries(): E[];
  readonly size: number;
}

export function createDeadlineQueue<E extends DeadlineEntry>(onExpire: (entry: E) => void): DeadlineQueue<E> {
  const heap: E[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let armedFor = Number.POSITIVE_INFINITY;

  const swap = (i: number, j: number) => {
    const a = heap[i] as E;
    const b = heap[j] as E;
    heap[i] = b;
    heap[j] = a;
    b.index = i;
    a.index = j;
  };
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as E).deadline <= (heap[i] as E).deadline) return;
      swap(i, parent);
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && (heap[left] as E).deadline < (heap[least] as E).deadline) {
        least = left;
      }
      if (right < heap.length && (heap[right] as E).deadline < (heap[least] as E).deadline) {
        least = right;
      }
      if (least === i) return;
      swap(i, least);
      i = least;
    }
  };
  const removeAt = (i: number) => {
    const last = heap.length - 1;
    const entry = heap[i] as E;
    if (i !== last) swap(i, last);
    heap.pop();
    entry.index = -1;
    if (i < heap.length) {
      down(i);
      up(i);
    }
  };
  const arm = () => {
    const first = heap[0];
    // An entry may wait forever (a call without a deadline): no timer for that.
    if (first === undefined || first.deadline === Number.POSITIVE_INFINITY) return;
    // Re-arm only for an earlier deadline: a later root is picked up when the armed timer fires.
    if (timer !== undefined && first.deadline >= armedFor) return;
    if (timer !== undefined) clearTimeout(timer);
    armedFor = first.deadline;
    timer = setTimeout(fire, Math.max(0, Math.ceil(first.deadline - performance.now())));
    // Pending deadlines alone must not keep a process alive (Node/Bun; Deno returns a number).
    (timer as { unref?: () => void }).unref?.();
  };
  const fire = () => {
    timer = undefined;
    armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    try {
      while (heap.length > 0 && (heap[0] as E).deadline <= now) {
        const entry = heap[0] as E;
        removeAt(0);
        onExpire(entry);
      }
    } finally {
      arm();
    }
  };

  return {
    schedule(entry) {
      if (entry.index >= 0) return;
      entry.index = heap.length;
      heap.push(entry);
      up(entry.index);
      arm();
    },
    cancel(entry) {
      if (entry.index >= 0) removeAt(entry.index);
    },
    entries: () => [...heap],
    get size() {
      return heap.length;
    },
  };
}
