/**
 * File-system change notifications over `node:fs` `watch`, which Bun, Deno and Node all
 * implement, recursively on Linux, macOS and Windows (Node ≥ 20 on Linux). Used by
 * `troupe dev --watch` (runtime/cli/dev/dev-watch.ts).
 */
import { watch } from "node:fs";
import { join } from "node:path";

export interface DirWatcher {
  close(): void;
}

export interface WatchDirOptions {
  /** Also every folder below it, including ones created later. */
  readonly recursive: boolean;
  /** Called with the absolute path of each file or folder that was created, written, renamed or removed. */
  readonly onChange: (path: string) => void;
  /** The watch broke (its folder was removed, too many watches); it delivers nothing more. */
  readonly onError: (err: unknown) => void;
}

/** Watches `dir` (which must exist) until `close()`; throws when it cannot be watched. */
export function watchDir(dir: string, options: WatchDirOptions): DirWatcher {
  const watcher = watch(dir, { recursive: options.recursive }, (_event, name) => {
    // The name is missing only where the platform cannot tell; Linux and macOS always can.
    if (name !== null) options.onChange(join(dir, name.toString()));
  });
  watcher.on("error", (err) => {
    watcher.close();
    options.onError(err);
  });
  return { close: () => watcher.close() };
}
