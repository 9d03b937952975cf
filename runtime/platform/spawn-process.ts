/**
 * Child processes for the test harness and the CLI. `node:child_process` is implemented by Bun,
 * Deno and Node alike, so one adapter serves all three.
 */
import { spawn } from "node:child_process";
import { readTextFile } from "./files.ts";

export type Signal = "SIGTERM" | "SIGINT" | "SIGKILL" | "SIGHUP" | "SIGUSR2";

export interface ExitStatus {
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null;
  /** The signal that ended the process, or null when it exited by itself. */
  readonly signal: string | null;
}

export interface ChildProcess {
  readonly pid: number;
  /** Settles once the process has exited, for whatever reason. */
  readonly exited: Promise<ExitStatus>;
  /** The exit status once known, else undefined. */
  readonly exitStatus: ExitStatus | undefined;
  /** Sends a signal; a no-op once the process has exited. */
  kill(signal: Signal): void;
  /** Everything the process wrote to stdout and stderr so far (the last `maxOutputChars`). */
  output(): string;
  /** Calls `listener` with every chunk of output as it arrives, and the stream it came on; returns an unsubscribe. */
  onOutput(listener: (chunk: string, stream: OutputStream) => void): () => void;
}

export type OutputStream = "stdout" | "stderr";

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** How much output `output()` keeps. */
  readonly maxOutputChars?: number;
  /**
   * Runs the child in its own process group, so a terminal's Ctrl-C (sent to the whole
   * foreground group) reaches only the parent, which then stops its children in its own order.
   */
  readonly detached?: boolean;
}

/** How long after a process exited its output may still be arriving. */
const OUTPUT_DRAIN_MS = 1_000;

export function spawnProcess(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.detached ?? false,
  });
  const maxOutputChars = options.maxOutputChars ?? 64 * 1024;
  const listeners = new Set<(chunk: string, stream: OutputStream) => void>();
  let output = "";
  let exitStatus: ExitStatus | undefined;
  const collect = (stream: OutputStream) => (data: Buffer) => {
    const chunk = data.toString("utf8");
    output = (output + chunk).slice(-maxOutputChars);
    for (const listener of listeners) listener(chunk, stream);
  };
  child.stdout?.on("data", collect("stdout"));
  child.stderr?.on("data", collect("stderr"));
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("error", (err) => {
      output += `\n${String(err)}`;
      exitStatus = { code: -1, signal: null };
      resolve(exitStatus);
    });
    // "exit" can come before the last of the output has been read (a declaration printed just
    // before exiting was lost so in a `troupe dev` start): resolve on "close", once the pipes are
    // drained, or a second after "exit" when a grandchild still holds them open.
    child.once("exit", (code, signal) => {
      const status = { code, signal };
      exitStatus = status;
      const timer = setTimeout(() => resolve(status), OUTPUT_DRAIN_MS);
      child.once("close", () => {
        clearTimeout(timer);
        resolve(status);
      });
    });
  });
  return {
    pid: child.pid ?? -1,
    exited,
    get exitStatus() {
      return exitStatus;
    },
    kill(signal) {
      if (exitStatus === undefined) child.kill(signal);
    },
    output: () => output,
    onOutput(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Runs a command to completion and returns its exit status and combined output. */
export async function runProcess(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<ExitStatus & { readonly output: string }> {
  const child = spawnProcess(command, args, options);
  const status = await child.exited;
  return { ...status, output: child.output() };
}

/** True when a process with this pid exists (and we may signal it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}

/**
 * True when a process with this pid exists and has not ended. Unlike `processAlive`, a zombie (a
 * process that has exited but that its parent, often init for an orphan, has not reaped yet)
 * counts as ended; Linux tells them apart in /proc, elsewhere this equals `processAlive`.
 */
export function processRunning(pid: number): boolean {
  if (!processAlive(pid)) return false;
  const stat = readTextFile(`/proc/${pid}/stat`);
  // "<pid> (<command>) <state> …": the state follows the last ")".
  return stat === undefined || stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/** Sends a signal to any pid, ignoring a process that is already gone. */
export function signalProcess(pid: number, signal: Signal): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * The command line of a running process, arguments joined by spaces; "" when it is unknown.
 * Linux exposes it in /proc; elsewhere callers must treat "" as "not provably ours" (pids are reused).
 */
export function processCommandLine(pid: number): string {
  return (readTextFile(`/proc/${pid}/cmdline`) ?? "").replaceAll("\0", " ").trim();
}

/** This process's pid. */
export function currentPid(): number {
  return process.pid;
}
