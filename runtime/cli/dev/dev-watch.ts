/**
 * `troupe dev --watch`: which actors a change of files concerns (docs/adr/0026-dev-watch.md).
 *
 * A changed file restarts an actor when it lies in the actor's own folder (`actors/order/…`), or
 * when the actor loads it (import-graph.ts): a file of `actors/shared` or of the generated
 * contracts restarts exactly the actors that import it, and the gateway, which loads every
 * contract at run time, restarts for any change in the contracts folder. A file that no actor
 * loads restarts nobody. Changes are gathered until `debounceMs` pass without one, so the
 * several files of one save (or of `buf generate`) make one restart.
 *
 * Watched are the actors folder (recursively) and, for each file an actor loads from elsewhere
 * in the project, the top folder of the project that holds it (recursively: `proto/`), or the
 * file's own folder when it is at the project root or outside it. Never node_modules or hidden
 * folders (the data folder `.troupe/dev` is written all the time).
 */
import {
  baseName,
  fileExists,
  isDir,
  joinPath,
  listFilesDeep,
  parentDir,
  relativePath,
} from "../../platform/files.ts";
import { type DirWatcher, watchDir } from "../../platform/watch-files.ts";
import type { ActorEntry } from "./find-actors.ts";
import { importGraph } from "./import-graph.ts";

/** Quiet time after the last change before restarting: an editor's save is a burst of writes. */
export const WATCH_DEBOUNCE_MS = 150;

export interface DevWatchInit {
  /** The project folder. */
  readonly root: string;
  readonly actorsDir: string;
  readonly actors: readonly ActorEntry[];
  /** Files an actor loads other than by a relative import (the gateway: every contract). */
  readonly loadsAlso: (actor: ActorEntry) => readonly string[];
  readonly debounceMs: number;
  /** The actors to restart, each with the changed files that concern it. */
  readonly onRestart: (changes: ReadonlyMap<string, readonly string[]>) => void;
  /** A folder of the actors folder with a main.ts that `troupe dev` did not start. */
  readonly onNewActor: (name: string, file: string) => void;
  /** A folder could not be watched, or its watch broke. */
  readonly onWatchError: (dir: string, err: unknown) => void;
}

export interface DevWatch {
  close(): void;
}

export function startDevWatch(init: DevWatchInit): DevWatch {
  const loads = (actor: ActorEntry) => new Set([...importGraph(actor.file), ...init.loadsAlso(actor)]);
  let graphs = new Map(init.actors.map((actor) => [actor.name, loads(actor)]));
  const watchers = new Map<string, { recursive: boolean; watcher: DirWatcher }>();
  const pending = new Set<string>();
  const announced = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const onChange = (path: string) => {
    if (closed || isIgnored(init.root, path)) return;
    pending.add(path);
    clearTimeout(timer);
    timer = setTimeout(flush, init.debounceMs);
  };

  /** Opens the watches `graphs` needs and closes the others; `reopen` renews every one. */
  const reconcile = (reopen: boolean) => {
    const wanted = watchRoots(
      init.root,
      init.actorsDir,
      [...graphs.values()].flatMap((files) => [...files]),
    );
    for (const [dir, recursive] of wanted) {
      const open = watchers.get(dir);
      if (open !== undefined && open.recursive === recursive && !reopen) continue;
      if (!isDir(dir)) continue;
      try {
        // The new watch is open before the old one closes: a change in between is not lost.
        const watcher = watchDir(dir, {
          recursive,
          onChange,
          onError: (err) => {
            if (watchers.get(dir)?.watcher === watcher) watchers.delete(dir);
            if (!closed) init.onWatchError(dir, err);
          },
        });
        open?.watcher.close();
        watchers.set(dir, { recursive, watcher });
      } catch (err) {
        init.onWatchError(dir, err);
      }
    }
    for (const [dir, { watcher }] of watchers) {
      if (wanted.has(dir)) continue;
      watcher.close();
      watchers.delete(dir);
    }
  };

  const flush = () => {
    timer = undefined;
    if (closed) return;
    const changed = [...pending];
    pending.clear();
    // A folder made or a file removed: a recursive watch may have missed what was made inside
    // (Node adds the watches of a new folder after the fact), so every watch is renewed.
    const structural = changed.some((path) => !fileExists(path) || isDir(path));
    // A folder made (or moved in) counts as all its files: they may have been written before the
    // folder's own watch was in place, so their events never came.
    const files = [
      ...new Set(
        changed.flatMap((path) =>
          isDir(path)
            ? listFilesDeep(path)
                .map((file) => joinPath(path, file))
                .filter((file) => !isIgnored(init.root, file))
            : [path],
        ),
      ),
    ];
    const before = graphs;
    graphs = new Map(init.actors.map((actor) => [actor.name, loads(actor)]));
    const restarts = actorsToRestart(
      files,
      init.actors.map((actor) => ({
        name: actor.name,
        folder: parentDir(actor.file),
        // What it loaded before the change (the running process) and what it loads now.
        loads: new Set([...(before.get(actor.name) ?? []), ...(graphs.get(actor.name) ?? [])]),
      })),
    );
    for (const path of changed) {
      const name = newActorFolder(init.actorsDir, init.actors, path);
      if (name === undefined || announced.has(name)) continue;
      announced.add(name);
      init.onNewActor(name, joinPath(init.actorsDir, name, "main.ts"));
    }
    reconcile(structural);
    if (restarts.size > 0) init.onRestart(restarts);
  };

  reconcile(false);
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const { watcher } of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

/** An actor as `actorsToRestart` sees it. */
export interface WatchedActor {
  readonly name: string;
  /** Its own folder: any change in it restarts it (a test file only when it is loaded). */
  readonly folder: string;
  /** Every file its process loads (absolute paths). */
  readonly loads: ReadonlySet<string>;
}

/** The actors that `changed` (absolute paths of files) concern, each with its changed files. */
export function actorsToRestart(
  changed: readonly string[],
  actors: readonly WatchedActor[],
): Map<string, string[]> {
  const restarts = new Map<string, string[]>();
  for (const actor of actors) {
    const concerning = changed.filter(
      (path) => actor.loads.has(path) || (isInside(actor.folder, path) && !TEST_FILE.test(path)),
    );
    if (concerning.length > 0) restarts.set(actor.name, concerning.sort());
  }
  return restarts;
}

/**
 * The folders to watch for `loaded` files (absolute paths), and whether recursively: the actors
 * folder, and each other file's top folder in the project (or its own folder at the root or
 * outside the project). Files in node_modules or a hidden folder are not watched.
 */
export function watchRoots(root: string, actorsDir: string, loaded: readonly string[]): Map<string, boolean> {
  const roots = new Map<string, boolean>([[actorsDir, true]]);
  const add = (dir: string, recursive: boolean) => roots.set(dir, recursive || (roots.get(dir) ?? false));
  for (const file of loaded) {
    if (isInside(actorsDir, file)) continue;
    const relative = relativePath(root, file);
    const parts = relative.split(/[\\/]/);
    if (relative.startsWith("..") || parts[0] === "" || relative === file) {
      add(parentDir(file), false);
    } else if (parts.length === 1) {
      add(root, false);
    } else if (!parts.slice(0, -1).some((part) => part.startsWith(".") || part === "node_modules")) {
      add(joinPath(root, parts[0] ?? ""), true);
    }
  }
  return roots;
}

/** Test files of an actor's folder: no restart unless the actor loads them. */
const TEST_FILE = /\.(?:test|spec)\.[cm]?[jt]sx?$/;

/**
 * Paths whose changes mean nothing: in a hidden folder or node_modules, or an editor's own files
 * (hidden ones such as `.actor.ts.swp`, backups `actor.ts~`, Emacs' `#actor.ts#`, Vim's write
 * test `4913`).
 */
export function isIgnored(root: string, path: string): boolean {
  const relative = relativePath(root, path);
  const parts = (relative.startsWith("..") ? path : relative).split(/[\\/]/);
  if (parts.some((part) => part.startsWith(".") || part === "node_modules")) return true;
  const name = baseName(path);
  return name.endsWith("~") || /^#.*#$/.test(name) || /^\d+$/.test(name) || /\.sw[a-p]$/.test(name);
}

function isInside(dir: string, path: string): boolean {
  const relative = relativePath(dir, path);
  return relative !== "" && !relative.startsWith("..") && relative !== path;
}

/** The name of an actor folder `path` lies in that has a main.ts but was not started. */
function newActorFolder(actorsDir: string, actors: readonly ActorEntry[], path: string): string | undefined {
  if (!isInside(actorsDir, path)) return undefined;
  const name = relativePath(actorsDir, path).split(/[\\/]/)[0] ?? "";
  if (actors.some((actor) => actor.name === name)) return undefined;
  return fileExists(joinPath(actorsDir, name, "main.ts")) ? name : undefined;
}
