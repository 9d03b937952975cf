/**
 * The whole shop under `troupe dev` (`bun run runtime/cli/main.ts dev`), started the way
 * tests/e2e/troupe-dev.test.ts starts it: its own data folder, free ports, NO_COLOR, every line
 * of its output kept in `<data dir>/troupe-dev.log`. Its status file (troupe-dev.json) is read
 * every 200 ms so that every pid it ever ran is known (an actor SIGKILLed by the suite comes back
 * with a new one); `stop()` sends SIGINT, as Ctrl-C does, and then looks for any of them, and for
 * any process whose command line names the data folder, still running.
 */
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type DevState, readDevState } from "../../runtime/cli/dev/dev-state.ts";
import { READY_LINE } from "../../runtime/cli/dev/run-dev.ts";
import { onProcessExit } from "../../runtime/platform/exit-hooks.ts";
import { freePort } from "../../runtime/platform/free-port.ts";
import { type ChildProcess, processRunning, spawnProcess } from "../../runtime/platform/spawn-process.ts";
import { REPO_ROOT } from "../support/actor-process.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");

export interface DevShopInit {
  readonly dataDir: string;
  /** Comma-separated URLs of servers to use instead of troupe dev's own nats-server. */
  readonly natsUrl?: string;
  /** More environment for troupe dev and so for every actor (TROUPE_JETSTREAM_REPLICAS). */
  readonly env?: Readonly<Record<string, string>>;
  readonly readyTimeoutMs: number;
}

export interface StopResult {
  /** troupe dev's exit, or "timeout" when it had not exited after the grace period (then SIGKILLed). */
  readonly exit: { code: number | null; signal: string | null } | "timeout";
  readonly stopMs: number;
  /** "<name> (pid N)" of every process of this troupe dev still running after it exited. */
  readonly leftovers: readonly string[];
  /** How many pids were watched. */
  readonly watched: number;
}

export interface DevShop {
  readonly dataDir: string;
  readonly gatewayUrl: string;
  /** What troupe dev connected to: its own server's URL or the given ones. */
  readonly natsUrl: string;
  /** The operator's creds file when troupe dev runs its nats-server with authentication. */
  readonly natsCreds: string | undefined;
  /** The CA of its nats-server's TLS certificate, when it speaks TLS. */
  readonly natsCa: string | undefined;
  readonly startupMs: number;
  /** The status file as last read. */
  state(): DevState;
  /** The current pid of each actor (the gateway among them), by name. */
  actorPids(): ReadonlyMap<string, number>;
  /** Every pid an actor has had, by name (first one first). */
  pidHistory(): ReadonlyMap<string, readonly number[]>;
  /** The last `chars` of troupe dev's output. */
  output(chars?: number): string;
  /** SIGINT, wait for the exit, then look for anything left running (except `exceptPids`). */
  stop(exceptPids?: readonly number[]): Promise<StopResult>;
}

export async function startDevShop(init: DevShopInit): Promise<DevShop> {
  const startedAt = Date.now();
  const log = createWriteStream(join(init.dataDir, "troupe-dev.log"));
  const args = [
    "run",
    "runtime/cli/main.ts",
    "dev",
    "--data-dir",
    init.dataDir,
    "--port",
    String(await freePort()),
    "--nats-port",
    "0",
    "--service-port",
    "mail=0",
    "--ready-timeout-ms",
    String(init.readyTimeoutMs),
    ...(init.natsUrl === undefined ? [] : ["--nats-url", init.natsUrl]),
  ];
  const child = spawnProcess(BUN, args, {
    cwd: REPO_ROOT,
    // An outer NATS_URL would make it use that server instead of its own.
    env: { NATS_URL: "", NO_COLOR: "1", ...init.env },
    maxOutputChars: 1024 * 1024,
  });
  child.onOutput((chunk) => log.write(chunk));

  const history = new Map<string, number[]>();
  const watched = new Map<number, string>();
  let state: DevState | undefined;
  const poll = () => {
    const read = readDevState(init.dataDir);
    if (read === undefined || read.pid !== child.pid) return;
    state = read;
    if (read.natsServerPid !== undefined) watched.set(read.natsServerPid, "nats-server");
    for (const p of read.services) watched.set(p.pid, p.name);
    for (const p of read.processes) {
      watched.set(p.pid, p.name);
      const pids = history.get(p.name) ?? [];
      if (!pids.includes(p.pid)) pids.push(p.pid);
      history.set(p.name, pids);
    }
  };
  const poller = setInterval(poll, 200);
  // If the suite itself ends first, nothing of this troupe dev may outlive it.
  const unregister = onProcessExit(() => {
    child.kill("SIGKILL");
    for (const pid of watched.keys()) if (processRunning(pid)) process.kill(pid, "SIGKILL");
  });

  try {
    await waitForOutput(child, READY_LINE, init.readyTimeoutMs + 10_000);
  } catch (err) {
    clearInterval(poller);
    child.kill("SIGKILL");
    await child.exited;
    for (const pid of watched.keys()) if (processRunning(pid)) process.kill(pid, "SIGKILL");
    unregister();
    log.end();
    throw err;
  }
  poll();
  const ready = state;
  if (ready?.gatewayUrl === undefined)
    throw new Error("troupe dev is ready but its status file has no gateway");
  const startupMs = Date.now() - startedAt;

  return {
    dataDir: init.dataDir,
    gatewayUrl: ready.gatewayUrl,
    natsUrl: ready.natsUrl,
    natsCreds: ready.natsCreds,
    natsCa: ready.natsCa,
    startupMs,
    state: () => state ?? ready,
    actorPids: () => new Map((state ?? ready).processes.map((p) => [p.name, p.pid])),
    pidHistory: () => history,
    output: (chars = 4_000) => child.output().slice(-chars),
    async stop(exceptPids = []) {
      poll();
      const stopping = Date.now();
      child.kill("SIGINT");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exit = await Promise.race([
        child.exited,
        new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), 60_000);
        }),
      ]);
      clearTimeout(timer);
      const stopMs = Date.now() - stopping;
      clearInterval(poller);
      unregister();
      if (exit === "timeout") {
        child.kill("SIGKILL");
        await child.exited;
      }
      await new Promise<void>((resolve) => log.end(resolve));
      const except = new Set(exceptPids);
      const leftovers = [...watched]
        .filter(([pid]) => !except.has(pid) && processRunning(pid))
        .map(([pid, name]) => `${name} (pid ${pid})`);
      for (const pid of processesNaming(init.dataDir)) {
        if (!except.has(pid) && !watched.has(pid))
          leftovers.push(`pid ${pid} (its command line names the data folder)`);
      }
      // Nothing is left to another run: whatever survived is killed now (and reported).
      for (const [pid] of watched) if (!except.has(pid) && processRunning(pid)) process.kill(pid, "SIGKILL");
      return { exit, stopMs, leftovers, watched: watched.size + 1 };
    },
  };
}

/** Resolves once the output contains `text`; rejects when the process exits first or time runs out. */
function waitForOutput(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  if (child.output().includes(text)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      stop();
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(
      () =>
        done(new Error(`troupe dev was not ready within ${timeoutMs} ms:\n${child.output().slice(-4_000)}`)),
      timeoutMs,
    );
    const stop = child.onOutput(() => {
      if (child.output().includes(text)) done();
    });
    void child.exited.then((status) => {
      if (!child.output().includes(text)) {
        done(
          new Error(
            `troupe dev exited (${JSON.stringify(status)}) before it was ready:\n${child.output().slice(-4_000)}`,
          ),
        );
      }
    });
  });
}

/** Pids of running processes whose command line contains `text` (Linux /proc). */
export function processesNaming(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(text) && processRunning(pid)) found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status), undefined when it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}
