/**
 * Driver side of a benchmark child process: spawns it, hands out the lines it writes for the
 * driver (each benchmark parses its own kinds of line; other output is ignored), keeps the tail
 * of its stderr for error messages, and stops it (SIGTERM, then SIGKILL).
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

export interface Child<Line> {
  /** The process id (for reading /proc/<pid>); undefined when it could not be started. */
  readonly pid: number | undefined;
  /** The next line for the driver; rejects when the process exits first or `timeoutMs` passes. */
  nextLine(timeoutMs: number): Promise<Line>;
  /** Resolves when the process has exited, asking it to stop first. */
  stop(): Promise<void>;
}

const STDERR_TAIL_CHARS = 4000;
const STOP_GRACE_MS = 2000;

/**
 * Starts `command` with `args` in `cwd`. `parseLine` reads one line of its stdout: the line for
 * the driver, or undefined for anything else.
 */
export function spawnChild<Line>(
  command: string,
  args: readonly string[],
  cwd: string,
  parseLine: (text: string) => Line | undefined,
): Child<Line> {
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(command, args, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const name = `${command.split("/").pop()} ${args.join(" ")}`;
  let stderr = "";
  child.stderr.on("data", (data: Buffer) => {
    stderr = (stderr + data.toString("utf8")).slice(-STDERR_TAIL_CHARS);
  });
  const exited = new Promise<string>((resolve) => {
    child.once("error", (err) => resolve(String(err)));
    child.once("close", (code, signal) => resolve(`exited with ${signal ?? `code ${code}`}`));
  });

  const lines: Line[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: child.stdout }).on("line", (text) => {
    const line = parseLine(text);
    if (line === undefined) return;
    lines.push(line);
    wake?.();
  });

  return {
    pid: child.pid,
    async nextLine(timeoutMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const failure = new Promise<never>((_resolve, reject) => {
        const fail = (why: string) => reject(new Error(`${name}: ${why}\n${stderr.trimEnd()}`));
        timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
        exited.then(fail);
      });
      failure.catch(() => {}); // observed by the race below; may settle after we have returned
      try {
        for (;;) {
          const line = lines.shift();
          if (line !== undefined) return line;
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), failure]);
        }
      } finally {
        clearTimeout(timer);
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(killer);
    },
  };
}
