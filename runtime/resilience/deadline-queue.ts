/**
 * Deadlines for many concurrent calls on one timer. A binary min-heap ordered by deadline, with
 * O(log n) removal, so a call that completes leaves nothing behind; one `setTimeout` is armed for
 * the earliest deadline. Per call this costs one small object instead of a timer (the unary hot
 * path runs tens of thousands of calls a second).
 */
export interface DeadlineEntry {
  /** `performance.now()` time at which `expire` runs. */
  readonly deadline: number;
  /** Position in the heap; -1 once expired or cancelled. */
  index: number;
  readonly expire: () => void;
}

export interface DeadlineQueue {
  /** Runs `expire` at `deadline` (a `performance.now()` time) unless cancelled first. */
  add(deadline: number, expire: () => void): DeadlineEntry;
  /** Removes an entry; a no-op for one that already expired or was cancelled. */
  cancel(entry: DeadlineEntry): void;
  readonly size: number;
}

export function createDeadlineQueue(): DeadlineQueue {
  const heap: DeadlineEntry[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let armedFor = Number.POSITIVE_INFINITY;

  const swap = (i: number, j: number) => {
    const a = heap[i] as DeadlineEntry;
    const b = heap[j] as DeadlineEntry;
    heap[i] = b;
    heap[j] = a;
    b.index = i;
    a.index = j;
  };
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as DeadlineEntry).deadline <= (heap[i] as DeadlineEntry).deadline) return;
      swap(i, parent);
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (
        left < heap.length &&
        (heap[left] as DeadlineEntry).deadline < (heap[least] as DeadlineEntry).deadline
      ) {
        least = left;
      }
      if (
        right < heap.length &&
        (heap[right] as DeadlineEntry).deadline < (heap[least] as DeadlineEntry).deadline
      ) {
        least = right;
      }
      if (least === i) return;
      swap(i, least);
      i = least;
    }
  };
  const removeAt = (i: number) => {
    const last = heap.length - 1;
    const entry = heap[i] as DeadlineEntry;
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
    if (first === undefined) return;
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
    while (heap.length > 0 && (heap[0] as DeadlineEntry).deadline <= now) {
      const entry = heap[0] as DeadlineEntry;
      removeAt(0);
      entry.expire();
    }
    arm();
  };

  return {
    add(deadline, expire) {
      const entry: DeadlineEntry = { deadline, index: heap.length, expire };
      heap.push(entry);
      up(entry.index);
      arm();
      return entry;
    },
    cancel(entry) {
      if (entry.index >= 0) removeAt(entry.index);
    },
    get size() {
      return heap.length;
    },
  };
}
