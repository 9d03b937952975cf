/**
 * A disposable nats-server for tests: its own free port, its own store directory, JetStream on,
 * and the means to stop, restart on the same port and store, and SIGKILL it. Servers are killed
 * and their stores removed when the test process ends, even on SIGINT/SIGTERM; stores left by a
 * process that was itself SIGKILLed are reaped by the next run (see reap-stale-servers.ts).
 * With `tls`, the client port speaks TLS (and, with `verify`, demands client certificates); the
 * monitoring port that readiness reads stays plain HTTP on loopback.
 */
import { onProcessExit } from "../platform/exit-hooks.ts";
import { joinPath, makeTempDir, removeDir, writeTextFile } from "../platform/files.ts";
import { freePort } from "../platform/free-port.ts";
import { type ChildProcess, currentPid, type ExitStatus, spawnProcess } from "../platform/spawn-process.ts";
import { findNatsServer } from "./find-nats-server.ts";
import { reapStaleServers, SERVER_PID_FILE, storePrefixFor } from "./reap-stale-servers.ts";

export interface NatsServerOptions {
  /** The nats-server binary; empty means `findNatsServer()` picks one (>= 2.11). */
  readonly binary: string;
  /** Enables JetStream with its store in the server's own directory. */
  readonly jetstream: boolean;
  /** The largest payload the server accepts; NATS's default is 1 MiB. */
  readonly maxPayloadBytes: number;
  /** Extra nats-server configuration appended to the generated file (accounts, limits, …). */
  readonly config: string;
  /** How long `start()` waits for the server to be ready and JetStream healthy. */
  readonly startTimeoutMs: number;
  /** The server's name; unique within a cluster. Defaults to `troupe-<port>`. */
  readonly name: string;
  /** TLS on the client port (a `tls {}` block); undefined: cleartext. */
  readonly tls: NatsServerTls | undefined;
}

/** The client port's TLS: the server's certificate files, and whether clients must present one. */
export interface NatsServerTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that client certificates must chain to; needed with `verify`. */
  readonly caFile?: string | undefined;
  /** Mutual TLS: refuse a client without a certificate the CA signed. */
  readonly verify?: boolean | undefined;
}

export const defaultNatsServerOptions: NatsServerOptions = {
  binary: "",
  jetstream: true,
  maxPayloadBytes: 1024 * 1024,
  config: "",
  startTimeoutMs: 15_000,
  name: "",
  tls: undefined,
};

export interface NatsServer extends AsyncDisposable {
  readonly name: string;
  /** `nats://127.0.0.1:<port>`, or `tls://127.0.0.1:<port>` when the client port speaks TLS. */
  readonly url: string;
  readonly port: number;
  /** The HTTP monitoring endpoint, `http://127.0.0.1:<port>` (`/varz`, `/healthz`, `/jsz`). */
  readonly monitorUrl: string;
  /** The server's own directory: its config, pid file and JetStream store. */
  readonly dir: string;
  /** The nats-server version, e.g. "2.12.1". */
  readonly version: string;
  /** True from a successful start until the process is seen to exit. */
  readonly running: boolean;
  /** The pid of the current process, undefined when it is not running. */
  readonly pid: number | undefined;
  /** Settles when the current process exits, however it ends (a crash, stop or kill). */
  readonly exited: Promise<ExitStatus>;
  /** Everything the current process logged (the last 64 KiB). */
  output(): string;
  /** Starts the server again on the same port and store after `stop()` or `kill()`. */
  start(): Promise<void>;
  /** Graceful shutdown (SIGTERM); resolves once the process has exited. */
  stop(): Promise<ExitStatus>;
  /** SIGKILL: no goodbye to clients, no flush; resolves once the process has exited. */
  kill(): Promise<ExitStatus>;
  /** `stop()` then `start()`, keeping the port and the store. */
  restart(): Promise<void>;
  /** Kills the server and removes its directory. Idempotent. */
  dispose(): Promise<void>;
}

/** The ports and peers of one server; a cluster gives every member the others' routes. */
export interface ServerLayout {
  readonly port: number;
  readonly monitorPort: number;
  readonly cluster?: {
    readonly name: string;
    readonly port: number;
    readonly routes: readonly number[];
  };
}

let reaped = false;

/** Starts one isolated nats-server with JetStream on a free port. */
export function startNatsServer(options: Partial<NatsServerOptions> = {}): Promise<NatsServer> {
  return withFreshPorts(async () => {
    const server = await createNatsServer({ port: await freePort(), monitorPort: await freePort() }, options);
    try {
      await server.start();
      return server;
    } catch (err) {
      await server.dispose();
      throw err;
    }
  });
}

/**
 * Runs `start` (which probes free ports, starts servers on them and cleans up after itself when
 * it fails) again, with new ports, when a server lost a port to another process between the
 * probe and its bind; three attempts.
 */
export async function withFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !String(err).includes("address already in use")) throw err;
    }
  }
}

/** Creates a server for a given layout without starting it (the cluster starts its members together). */
export async function createNatsServer(
  layout: ServerLayout,
  partial: Partial<NatsServerOptions> = {},
): Promise<NatsServer> {
  const options = { ...defaultNatsServerOptions, ...partial };
  if (options.tls !== undefined) tlsBlock(options.tls); // refuses a bad TLS setup before anything is made
  if (!reaped) {
    reaped = true;
    reapStaleServers();
  }
  const binary = await findNatsServer(options.binary || undefined);
  const dir = await makeTempDir(storePrefixFor(currentPid()));
  const name = options.name || `troupe-${layout.port}`;
  const configPath = joinPath(dir, "nats-server.conf");
  writeTextFile(configPath, serverConfig(name, dir, layout, options));

  let child: ChildProcess | undefined;
  let running = false;
  let disposed = false;
  const unregister = onProcessExit(() => {
    child?.kill("SIGKILL");
    removeDir(dir);
  });

  const waitForExit = async (signal: "SIGTERM" | "SIGKILL"): Promise<ExitStatus> => {
    if (child === undefined) return { code: null, signal: null };
    child.kill(signal);
    const status = await child.exited;
    running = false;
    return status;
  };

  const server: NatsServer = {
    name,
    url: `${options.tls === undefined ? "nats" : "tls"}://127.0.0.1:${layout.port}`,
    port: layout.port,
    monitorUrl: `http://127.0.0.1:${layout.monitorPort}`,
    dir,
    version: binary.version,
    get running() {
      return running && child?.exitStatus === undefined;
    },
    get pid() {
      return child !== undefined && child.exitStatus === undefined ? child.pid : undefined;
    },
    get exited() {
      return child?.exited ?? Promise.resolve({ code: null, signal: null });
    },
    output: () => child?.output() ?? "",
    async start() {
      if (disposed) throw new Error(`nats-server ${name} was disposed`);
      if (child !== undefined && child.exitStatus === undefined) {
        throw new Error(`nats-server ${name} is already running (pid ${child.pid})`);
      }
      child = spawnProcess(binary.path, ["-c", configPath]);
      writeTextFile(joinPath(dir, SERVER_PID_FILE), String(child.pid));
      await waitUntilReady(child, server, options.startTimeoutMs);
      running = true;
    },
    stop: () => waitForExit("SIGTERM"),
    kill: () => waitForExit("SIGKILL"),
    async restart() {
      await server.stop();
      await server.start();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await waitForExit("SIGKILL");
      unregister();
      removeDir(dir);
    },
    [Symbol.asyncDispose]: () => server.dispose(),
  };
  return server;
}

function serverConfig(name: string, dir: string, layout: ServerLayout, options: NatsServerOptions): string {
  const lines = [
    `server_name: ${JSON.stringify(name)}`,
    `listen: "127.0.0.1:${layout.port}"`,
    `http: "127.0.0.1:${layout.monitorPort}"`,
    `max_payload: ${options.maxPayloadBytes}`,
  ];
  if (options.jetstream) {
    lines.push(
      "jetstream {",
      `  store_dir: ${JSON.stringify(joinPath(dir, "jetstream"))}`,
      "  max_memory_store: 256MB",
      "  max_file_store: 2GB",
      "}",
    );
  }
  if (options.tls !== undefined) lines.push(...tlsBlock(options.tls));
  if (layout.cluster !== undefined) {
    const routes = layout.cluster.routes.map((port) => `    "nats-route://127.0.0.1:${port}"`);
    lines.push(
      "cluster {",
      `  name: ${JSON.stringify(layout.cluster.name)}`,
      `  listen: "127.0.0.1:${layout.cluster.port}"`,
      "  routes: [",
      ...routes,
      "  ]",
      "}",
    );
  }
  lines.push(options.config);
  return `${lines.join("\n")}\n`;
}

/**
 * The client port's `tls {}` block (https://docs.nats.io/running-a-nats-service/configuration/securing_nats/tls).
 * The handshake timeout is 2 s rather than the server's 0.5 s default: a test machine busy with
 * three runtimes can be slower than that at a first handshake.
 */
function tlsBlock(tls: NatsServerTls): string[] {
  if (tls.verify === true && tls.caFile === undefined) {
    throw new Error("startNatsServer: tls.verify needs tls.caFile, the CA that client certificates chain to");
  }
  return [
    "tls {",
    `  cert_file: ${JSON.stringify(tls.certFile)}`,
    `  key_file: ${JSON.stringify(tls.keyFile)}`,
    ...(tls.caFile === undefined ? [] : [`  ca_file: ${JSON.stringify(tls.caFile)}`]),
    ...(tls.verify === true ? ["  verify: true"] : []),
    "  timeout: 2",
    "}",
  ];
}

/**
 * Waits for the server's "Server is ready" log line, then for `/healthz` to answer 200 (with
 * JetStream that means the store is recovered and, in a cluster, a meta leader is known).
 */
async function waitUntilReady(child: ChildProcess, server: NatsServer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const failed = (why: string) =>
    new Error(`nats-server ${server.name} on port ${server.port} ${why}:\n${child.output().slice(-4000)}`);

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stopListening();
      reject(failed(`was not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const check = () => {
      if (child.output().includes("Server is ready")) {
        clearTimeout(timer);
        stopListening();
        resolve();
      }
    };
    const stopListening = child.onOutput(check);
    child.exited.then((status) => {
      clearTimeout(timer);
      stopListening();
      reject(failed(`exited during start (code ${status.code}, signal ${status.signal})`));
    });
    check();
  });

  for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 200)) {
    if (child.exitStatus !== undefined) throw failed("exited during start");
    try {
      const res = await fetch(`${server.monitorUrl}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // the monitor port may not accept connections yet
    }
    if (Date.now() > deadline) throw failed(`did not report healthy within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}
