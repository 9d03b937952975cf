/**
 * One child process of `troupe dev` (an actor or the gateway) and its supervision. Until
 * `supervise()` is called an exit is final: startup fails and names the process. After it, a
 * process that exits without being asked to is started again after a back-off that doubles with
 * each quick crash (`initialDelayMs` … `maxDelayMs`) and starts over once a run lasted
 * `stableAfterMs`.
 */
import { type ChildProcess, type ExitStatus, spawnProcess } from "../../platform/spawn-process.ts";
import type { Printer } from "./dev-console.ts";

export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A run at least this long resets the back-off. */
  readonly stableAfterMs: number;
}

export const defaultRestartPolicy: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  stableAfterMs: 60_000,
};

export interface SupervisedProcessInit {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly printer: Printer;
  readonly restart: RestartPolicy;
  /** Told about each new child (the first and every restart), e.g. to record its pid. */
  readonly onStarted: (pid: number) => void;
}

export interface SupervisedProcess {
  readonly name: string;
  /** The current child's pid. */
  readonly pid: number;
  /** Settles when the current child exits. */
  readonly exited: Promise<ExitStatus>;
  readonly restarts: number;
  /** The last `count` lines the current child wrote. */
  lastLines(count: number): string[];
  /** From now on, restart the process when it exits by itself. */
  supervise(): void;
  /** SIGTERM, then SIGKILL after `graceMs`; no more restarts. Resolves once it has exited. */
  stop(graceMs: number): Promise<ExitStatus>;
  /** SIGKILL at once, synchronously (the last-resort clean-up). */
  kill(): void;
}

export function startSupervisedProcess(init: SupervisedProcessInit): SupervisedProcess {
  let child: ChildProcess;
  let startedAt = 0;
  let supervising = false;
  let stopping = false;
  let restarts = 0;
  let quickCrashes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const spawn = () => {
    child = spawnProcess(init.command, init.args, {
      cwd: init.cwd,
      env: init.env,
      // Own process group: Ctrl-C reaches only the orchestrator, which stops children in order.
      detached: true,
      maxOutputChars: 64 * 1024,
    });
    startedAt = Date.now();
    child.onOutput((chunk, stream) => init.printer.output(chunk, stream));
    init.onStarted(child.pid);
    void child.exited.then((status) => onExit(child, status));
  };

  const onExit = (exitedChild: ChildProcess, status: ExitStatus) => {
    init.printer.flush();
    if (exitedChild !== child || stopping || !supervising) return;
    const ranMs = Date.now() - startedAt;
    quickCrashes = ranMs >= init.restart.stableAfterMs ? 0 : quickCrashes + 1;
    const delayMs = Math.min(
      init.restart.initialDelayMs * 2 ** Math.max(0, quickCrashes - 1),
      init.restart.maxDelayMs,
    );
    init.printer.error(
      `exited by itself (${describeExit(status)}) after ${formatMs(ranMs)}; restarting in ${formatMs(delayMs)}`,
    );
    timer = setTimeout(() => {
      timer = undefined;
      if (stopping) return;
      restarts++;
      spawn();
    }, delayMs);
  };

  spawn();

  return {
    name: init.name,
    get pid() {
      return child.pid;
    },
    get exited() {
      return child.exited;
    },
    get restarts() {
      return restarts;
    },
    lastLines(count) {
      return child
        .output()
        .split("\n")
        .filter((line) => line.trim() !== "")
        .slice(-count);
    },
    supervise() {
      supervising = true;
    },
    async stop(graceMs) {
      stopping = true;
      clearTimeout(timer);
      if (child.exitStatus !== undefined) return child.exitStatus;
      child.kill("SIGTERM");
      let killTimer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        killTimer = setTimeout(() => {
          init.printer.error(`still running ${formatMs(graceMs)} after SIGTERM: SIGKILL`);
          child.kill("SIGKILL");
          resolve();
        }, graceMs);
      });
      await Promise.race([child.exited, killed]);
      clearTimeout(killTimer);
      return child.exited;
    },
    kill() {
      stopping = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
    },
  };
}

export function describeExit(status: ExitStatus): string {
  return status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`;
}

export function formatMs(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(1)} s`;
}
