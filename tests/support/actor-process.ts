/**
 * An actor run as its own process, the way production runs it (`bun run actors/<name>/main.ts`,
 * `deno run -A …`, `node …`), for tests of lifecycle and cross-runtime calls. The process gets
 * NATS_URL of the test's server; `startActorProcess` resolves once the actor logs
 * `"msg":"actor ready"` (runtime/process/run-actor.ts), with the instance id from that line.
 *
 * A started process is SIGKILLed when the test process ends, however it ends (exit hooks), and
 * `kill()` / `await using` end it earlier; tests also kill theirs in `after`.
 */
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ExitStatus } from "troupe/testing";
import { onProcessExit } from "../../runtime/platform/exit-hooks.ts";
import { spawnProcess } from "../../runtime/platform/spawn-process.ts";

/** The repository root (every relative `file` is resolved from it). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export type JsRuntime = "bun" | "deno" | "node";

/** The runtime running this test, for processes that must run on the same one. */
export function currentRuntime(): JsRuntime {
  if (process.versions.bun !== undefined) return "bun";
  if (process.versions.deno !== undefined) return "deno";
  return "node";
}

/** One JSON log line of the actor. */
export type LogLine = Readonly<Record<string, unknown>> & { readonly msg: string };

export interface ActorProcessOptions {
  readonly runtime: JsRuntime;
  /** The actor's main file, e.g. "actors/product/main.ts". */
  readonly file: string;
  /** The NATS server the actor connects to. */
  readonly natsUrl: string;
  /** More environment variables (TROUPE_DRAIN_GRACE_MS, PRODUCT_DELAY_MS, …). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for "actor ready" (Deno's first start compiles). */
  readonly readyTimeoutMs?: number;
  /** Echo the actor's output to this process's stderr as it arrives (or set TROUPE_ACTOR_LOGS=1). */
  readonly echo?: boolean;
}

export interface ActorProcess extends AsyncDisposable {
  readonly runtime: JsRuntime;
  readonly pid: number;
  /** The instance id in discovery, from the "actor ready" log line. */
  readonly id: string;
  /** The "actor ready" log line. */
  readonly ready: LogLine;
  /** Settles when the process has exited, however it ended. */
  readonly exited: Promise<ExitStatus>;
  /** The exit status once the process has exited, else undefined. */
  readonly exitStatus: ExitStatus | undefined;
  /** Sends a signal (a no-op once the process has exited). */
  signal(signal: "SIGTERM" | "SIGINT"): void;
  /** SIGKILL; resolves once the process has exited. Idempotent. */
  kill(): Promise<ExitStatus>;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** The JSON log lines so far. */
  logs(): readonly LogLine[];
  /** The first log line (already written or still to come) with this `msg`; rejects if the process exits first. */
  waitForLog(msg: string): Promise<LogLine>;
}

const BIN = join(REPO_ROOT, "node_modules", ".bin");

/** The command line that runs `file` on `runtime`. */
export function commandFor(runtime: JsRuntime, file: string): { command: string; args: string[] } {
  switch (runtime) {
    case "bun":
      return { command: join(BIN, "bun"), args: ["run", file] };
    case "deno":
      return { command: join(BIN, "deno"), args: ["run", "-A", file] };
    case "node":
      return { command: join(BIN, "node"), args: [file] };
  }
}

export async function startActorProcess(options: ActorProcessOptions): Promise<ActorProcess> {
  const file = isAbsolute(options.file) ? options.file : join(REPO_ROOT, options.file);
  const { command, args } = commandFor(options.runtime, file);
  const echo = options.echo ?? process.env.TROUPE_ACTOR_LOGS === "1";
  const child = spawnProcess(command, args, {
    cwd: REPO_ROOT,
    env: { NATS_URL: options.natsUrl, ...options.env },
    maxOutputChars: 1024 * 1024,
  });
  const unregister = onProcessExit(() => child.kill("SIGKILL"));
  void child.exited.then(unregister);

  const lines: LogLine[] = [];
  const waiters = new Set<{ msg: string; resolve: (line: LogLine) => void }>();
  let partial = "";
  child.onOutput((chunk) => {
    if (echo) process.stderr.write(prefixLines(`[${options.runtime} ${child.pid}] `, chunk));
    partial += chunk;
    const complete = partial.split("\n");
    partial = complete.pop() ?? "";
    for (const text of complete) {
      const line = parseLogLine(text);
      if (line === undefined) continue;
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.msg !== line.msg) continue;
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });

  const describe = () =>
    `${options.runtime} ${options.file} (pid ${child.pid}) output:\n${child.output().slice(-8000)}`;

  const waitForLog = (msg: string): Promise<LogLine> => {
    const seen = lines.find((line) => line.msg === msg);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const waiter = { msg, resolve };
      waiters.add(waiter);
      void child.exited.then((status) => {
        if (!waiters.delete(waiter)) return;
        reject(new Error(`exited (${JSON.stringify(status)}) before logging "${msg}": ${describe()}`));
      });
    });
  };

  const kill = async () => {
    child.kill("SIGKILL");
    return child.exited;
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ready: LogLine;
  try {
    ready = await Promise.race([
      waitForLog("actor ready"),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`not ready within ${readyTimeoutMs} ms: ${describe()}`)),
          readyTimeoutMs,
        );
      }),
    ]);
  } catch (err) {
    await kill();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const id = ready.id;
  if (typeof id !== "string" || id === "") {
    await kill();
    throw new Error(`the "actor ready" line has no instance id: ${JSON.stringify(ready)}`);
  }

  return {
    runtime: options.runtime,
    pid: child.pid,
    id,
    ready,
    exited: child.exited,
    get exitStatus() {
      return child.exitStatus;
    },
    signal: (signal) => child.kill(signal),
    kill,
    output: () => child.output(),
    logs: () => lines,
    waitForLog,
    [Symbol.asyncDispose]: async () => {
      await kill();
    },
  };
}

function parseLogLine(text: string): LogLine | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    if (typeof value === "object" && value !== null && typeof (value as LogLine).msg === "string") {
      return value as LogLine;
    }
  } catch {
    // not a log line: the runtime printed something else (a warning, a stack)
  }
  return undefined;
}

function prefixLines(prefix: string, chunk: string): string {
  return chunk.replace(/^(?=.)/gm, prefix);
}

/**
 * How `child` ended, or "running" if it still runs after `ms` (then it is SIGKILLed): for tests
 * of processes that must refuse to start, where running on is the failure.
 */
export async function exitWithin(
  child: { readonly exited: Promise<ExitStatus>; kill(signal: "SIGKILL"): void },
  ms: number,
): Promise<ExitStatus | "running"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    child.exited,
    new Promise<"running">((resolve) => {
      timer = setTimeout(() => resolve("running"), ms);
    }),
  ]);
  clearTimeout(timer);
  if (status === "running") {
    child.kill("SIGKILL");
    await child.exited;
  }
  return status;
}
