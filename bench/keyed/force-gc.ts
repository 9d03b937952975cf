/**
 * A full garbage collection, where the runtime lets a program ask for one, so that a memory
 * figure counts what is still reachable: Bun's `Bun.gc(true)` (synchronous, full); on Node
 * `globalThis.gc` (`--expose-gc`), or else the same function obtained by turning the V8 flag on at
 * run time (`v8.setFlagsFromString("--expose-gc")`, then `gc` from a new context); on Deno
 * `globalThis.gc` when started with `--v8-flags=--expose-gc`. Returns how it collected, or
 * "none" when it could not.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Collect = () => void;

interface WithGc {
  readonly Bun?: { gc(force: boolean): void };
  readonly gc?: Collect;
}

function findCollector(): { readonly how: string; readonly collect: Collect } | undefined {
  const scope = globalThis as WithGc;
  const bun = scope.Bun;
  if (bun !== undefined) return { how: "Bun.gc(true)", collect: () => bun.gc(true) };
  if (typeof scope.gc === "function") return { how: "gc() (--expose-gc)", collect: scope.gc };
  try {
    setFlagsFromString("--expose-gc");
    const gc: unknown = runInNewContext("gc");
    if (typeof gc === "function") return { how: "gc() (v8.setFlagsFromString)", collect: gc as Collect };
  } catch {
    // The runtime has no V8 flags to set (or refuses): no forced collection.
  }
  return undefined;
}

const collector = findCollector();

/** How `forceGc` collects: "Bun.gc(true)", "gc() (…)", or "none". */
export const gcMethod = collector?.how ?? "none";

/**
 * Collects `passes` times, yielding to the event loop between passes, so that objects freed by
 * finalizers or by timers that just ran are gone too.
 */
export async function forceGc(passes = 3): Promise<void> {
  if (collector === undefined) return;
  for (let i = 0; i < passes; i++) {
    collector.collect();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
