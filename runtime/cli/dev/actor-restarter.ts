/**
 * One actor's restarts under `troupe dev --watch` (dev-watch.ts decides which actors): the
 * running process is stopped as at Ctrl-C (SIGTERM, it drains, SIGKILL after the grace period),
 * a new one is started and is ready once it is discoverable again. Restarts of one actor never
 * overlap: changes that come while one runs are gathered into the next, and a change while the
 * new process is still starting restarts it at once (no waiting for a start that is already
 * out of date).
 *
 * A process that exits before it is ready (a syntax error in the saved file) is not started
 * again until the next change: no back-off, no crash loop. Once ready it is supervised as at
 * startup (supervised-process.ts): restarted with back-off when it exits by itself.
 */
import { relativePath } from "../../platform/files.ts";
import type { ExitStatus } from "../../platform/spawn-process.ts";
import type { Printer } from "./dev-console.ts";
import { describeExit, formatMs, type SupervisedProcess } from "./supervised-process.ts";

export interface ActorRestarterInit {
  readonly root: string;
  readonly printer: Printer;
  /** Stops the running process, if any; resolves once it has exited. */
  readonly stop: () => Promise<void>;
  /** Starts a new process; undefined when `troupe dev` is stopping. */
  readonly start: () => SupervisedProcess | undefined;
  /** Resolves once the new process is ready; rejects with `abandon`'s error, or on a time-out. */
  readonly waitUntilReady: (abandon: Promise<never>) => Promise<void>;
  /** True once `troupe dev` is stopping: nothing more is started or reported. */
  readonly stopping: () => boolean;
}

export interface ActorRestarter {
  /** Restarts the actor because `files` changed (absolute paths). */
  request(files: readonly string[]): void;
  /** Resolves when no restart runs (tests). */
  idle(): Promise<void>;
}

export function createActorRestarter(init: ActorRestarterInit): ActorRestarter {
  let queued: string[] | undefined;
  let running: Promise<void> | undefined;
  // Settles a start's readiness wait when a newer change arrives.
  let supersede: () => void = () => {};

  const restart = async (files: readonly string[]) => {
    const startedAt = Date.now();
    init.printer.line(`${describeFiles(init.root, files)} changed, restarting`);
    await init.stop();
    const child = init.start();
    if (child === undefined) return;
    const abandon = Promise.race([
      child.exited.then((status) => {
        throw new ExitedBeforeReady(status);
      }),
      new Promise<never>((_, reject) => {
        supersede = () => reject(new Superseded());
      }),
    ]);
    abandon.catch(() => {});
    if (queued !== undefined) supersede();
    try {
      await init.waitUntilReady(abandon);
      child.supervise();
      init.printer.line(`ready (pid ${child.pid}, ${formatMs(Date.now() - startedAt)})`);
    } catch (err) {
      if (init.stopping() || err instanceof Superseded) return;
      if (err instanceof ExitedBeforeReady) {
        init.printer.error(
          `exited before it was ready (${describeExit(err.status)}); it starts again at the next change`,
        );
      } else {
        // Slow rather than dead: it keeps running, supervised, and may still come up.
        child.supervise();
        init.printer.error(`${err instanceof Error ? err.message : String(err)}; it keeps running`);
      }
    } finally {
      supersede = () => {};
    }
  };

  const loop = async () => {
    for (let files = queued; files !== undefined; files = queued) {
      queued = undefined;
      if (init.stopping()) return;
      await restart(files);
    }
  };

  return {
    request(files) {
      queued = [...new Set([...(queued ?? []), ...files])];
      supersede();
      running ??= loop().finally(() => {
        running = undefined;
      });
    },
    idle: () => running ?? Promise.resolve(),
  };
}

/** `actors/order/actor.ts`, or `actors/order/actor.ts and 2 more files`. */
export function describeFiles(root: string, files: readonly string[]): string {
  const shown = (path: string) => {
    const relative = relativePath(root, path);
    return relative.startsWith("..") ? path : relative;
  };
  const first = shown(files[0] ?? "");
  return files.length <= 1
    ? first
    : `${first} and ${files.length - 1} more ${files.length === 2 ? "file" : "files"}`;
}

class ExitedBeforeReady extends Error {
  override name = "ExitedBeforeReady";
  readonly status: ExitStatus;
  constructor(status: ExitStatus) {
    super(`exited before it was ready (${describeExit(status)})`);
    this.status = status;
  }
}

class Superseded extends Error {
  override name = "Superseded";
}
