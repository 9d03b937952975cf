/**
 * Driver side of a benchmark child process: spawns it, hands out the ChildLines it writes,
 * keeps the tail of its stderr for error messages, and stops it (SIGTERM, then SIGKILL).
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { type ChildLine, parseChildLine } from "./child-line.ts";

export interface Child {
  /** The next ChildLine; rejects when the process exits first or `timeoutMs` passes. */
  nextLine(timeoutMs: number): Promise<ChildLine>;
  /** Resolves when the process has exited, asking it to stop first. */
  stop(): Promise<void>;
}

const STDERR_TAIL_CHARS = 4000;
const STOP_GRACE_MS = 2000;

export function spawnChild(command: string, args: readonly string[], cwd: string): Child {
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

  const lines: ChildLine[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: child.stdout }).on("line", (text) => {
    const line = parseChildLine(text);
    if (line === undefined) return;
    lines.push(line);
    wake?.();
  });

  return {
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
