/**
 * The nats-server of `troupe dev`: JetStream with its store in `<data dir>/nats/jetstream`, so
 * streams, consumers and KV state survive from one run to the next. It listens on 127.0.0.1
 * only, on the preferred port (4333, not NATS's 4222 where another server may already run) or a
 * free one. Its pid, ports and config are kept in `<data dir>/nats/server.json`: a server left
 * running by an orchestrator that was SIGKILLed is found there and reused (it already has the
 * store open), and stopped at the end like one this run started.
 */
import { joinPath, makeDir, readTextFile, removeFile, writeFileAtomically } from "../../platform/files.ts";
import { freePort } from "../../platform/free-port.ts";
import {
  type ChildProcess,
  type OutputStream,
  processCommandLine,
  processRunning,
  signalProcess,
  spawnProcess,
} from "../../platform/spawn-process.ts";
import { findNatsServer } from "../../testing/find-nats-server.ts";
import { choosePort } from "./choose-port.ts";

export interface DevNatsServerInit {
  /** `<data dir>/nats` */
  readonly dir: string;
  /** The preferred client port; 0 for any free one. */
  readonly port: number;
  readonly startTimeoutMs: number;
  /**
   * Configuration appended to the server's own (the authentication of `<data dir>/auth`), or "".
   * A server left running with other configuration is stopped and started afresh.
   */
  readonly extraConfig: string;
  /** The client port speaks TLS (the `tls {}` block is in `extraConfig`): the URL is `tls://`. */
  readonly tls: boolean;
  /** Told about what the server this run started writes (its log). */
  readonly onOutput: (chunk: string, stream: OutputStream) => void;
}

export interface DevNatsServer {
  /** `nats://127.0.0.1:<port>`, `tls://…` when the client port speaks TLS. */
  readonly url: string;
  readonly pid: number;
  readonly version: string;
  /** True when the server was left running by an earlier `troupe dev` and is reused. */
  readonly reused: boolean;
  /** True when the preferred port was taken and another one was chosen. */
  readonly fellBack: boolean;
  /** SIGTERM (JetStream flushes and closes its store), SIGKILL after `graceMs`. */
  stop(graceMs: number): Promise<void>;
  /** SIGKILL at once, synchronously (the last-resort clean-up). */
  kill(): void;
}

interface ServerRecord {
  readonly pid: number;
  readonly port: number;
  readonly monitorPort: number;
  readonly version: string;
}

const RECORD_FILE = "server.json";
const CONFIG_FILE = "nats-server.conf";

export async function startDevNatsServer(init: DevNatsServerInit): Promise<DevNatsServer> {
  makeDir(init.dir);
  const configPath = joinPath(init.dir, CONFIG_FILE);
  const recordPath = joinPath(init.dir, RECORD_FILE);

  const earlier = readRecord(recordPath);
  if (earlier !== undefined && isOurServer(earlier.pid, configPath)) {
    const expected = serverConfig(init.dir, earlier.port, earlier.monitorPort) + init.extraConfig;
    const same = readTextFile(configPath) === expected;
    if (same && (await healthy(earlier.monitorPort))) {
      return handle({
        record: earlier,
        recordPath,
        reused: true,
        fellBack: false,
        child: undefined,
        tls: init.tls,
      });
    }
    await stopPid(earlier.pid, 5_000);
  }

  const binary = await findNatsServer();
  const chosen = await choosePort(init.port);
  const monitorPort = await freePort();
  // The configuration may hold the account JWTs: readable by its owner only.
  writeFileAtomically(
    configPath,
    serverConfig(init.dir, chosen.port, monitorPort) + init.extraConfig,
    init.extraConfig === "" ? 0o644 : 0o600,
  );
  const child = spawnProcess(binary.path, ["-c", configPath], { detached: true });
  child.onOutput(init.onOutput);
  const record: ServerRecord = { pid: child.pid, port: chosen.port, monitorPort, version: binary.version };
  writeFileAtomically(recordPath, `${JSON.stringify(record, null, 2)}\n`);
  try {
    await waitUntilHealthy(child, monitorPort, init.startTimeoutMs);
  } catch (err) {
    child.kill("SIGKILL");
    await child.exited;
    removeFile(recordPath);
    throw err;
  }
  return handle({ record, recordPath, reused: false, fellBack: chosen.fellBack, child, tls: init.tls });
}

function handle(state: {
  record: ServerRecord;
  recordPath: string;
  reused: boolean;
  fellBack: boolean;
  child: ChildProcess | undefined;
  tls: boolean;
}): DevNatsServer {
  const { record, child } = state;
  return {
    url: `${state.tls ? "tls" : "nats"}://127.0.0.1:${record.port}`,
    pid: record.pid,
    version: record.version,
    reused: state.reused,
    fellBack: state.fellBack,
    async stop(graceMs) {
      if (child === undefined) {
        await stopPid(record.pid, graceMs);
      } else if (child.exitStatus === undefined) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await child.exited;
        clearTimeout(timer);
      }
      removeFile(state.recordPath);
    },
    kill() {
      if (child === undefined) signalProcess(record.pid, "SIGKILL");
      else child.kill("SIGKILL");
    },
  };
}

function serverConfig(dir: string, port: number, monitorPort: number): string {
  return [
    'server_name: "troupe-dev"',
    `listen: "127.0.0.1:${port}"`,
    `http: "127.0.0.1:${monitorPort}"`,
    "jetstream {",
    `  store_dir: ${JSON.stringify(joinPath(dir, "jetstream"))}`,
    "  max_memory_store: 256MB",
    "  max_file_store: 2GB",
    "}",
    "",
  ].join("\n");
}

function readRecord(path: string): ServerRecord | undefined {
  const text = readTextFile(path);
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as Partial<ServerRecord>;
    const ok = [record.pid, record.port, record.monitorPort].every(
      (n) => Number.isInteger(n) && Number(n) > 0,
    );
    return ok ? (record as ServerRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Only a nats-server started with this project's config is ours to reuse or stop: pids are reused. */
function isOurServer(pid: number, configPath: string): boolean {
  return processRunning(pid) && processCommandLine(pid).includes(configPath);
}

async function healthy(monitorPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Polls `/healthz` until it answers 200: with JetStream that means the store is recovered.
 * Fails at once, with the server's output, when the process exits during its start.
 */
async function waitUntilHealthy(child: ChildProcess, monitorPort: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const failed = (why: string) => new Error(`nats-server ${why}:\n${child.output().slice(-4_000)}`);
  for (let delayMs = 20; ; delayMs = Math.min(delayMs * 2, 250)) {
    if (child.exitStatus !== undefined) throw failed(`exited during start (code ${child.exitStatus.code})`);
    if (await healthy(monitorPort)) return;
    if (Date.now() > deadline) throw failed(`was not healthy within ${timeoutMs} ms`);
    await Promise.race([new Promise((resolve) => setTimeout(resolve, delayMs)), child.exited]);
  }
}

/** Stops a process that is not our child: SIGTERM, SIGKILL after `graceMs`; there is no exit event, so it is polled. */
async function stopPid(pid: number, graceMs: number): Promise<void> {
  signalProcess(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (processRunning(pid)) {
    if (Date.now() > deadline) {
      signalProcess(pid, "SIGKILL");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
