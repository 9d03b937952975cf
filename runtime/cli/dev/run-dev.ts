/**
 * `troupe dev`: runs the whole system locally (docs/adr/0010-dev-orchestrator.md).
 *
 * 1. a nats-server with JetStream, its store in `<data dir>/nats` (or NATS_URL's server);
 * 2. the SMTP sink, saving mail in `<data dir>/mail`;
 * 3. every `<actors dir>/<name>/main.ts` as its own process (`bun run …`), the gateway last,
 *    each line of their output prefixed with the name;
 * 4. once every actor answers `$SRV.PING` and the gateway's `/readyz` is 200: the summary.
 *
 * A process that exits during startup stops everything (exit 1, naming it, with its last lines);
 * later, one that exits by itself is restarted with back-off. SIGINT/SIGTERM/SIGHUP stop the
 * gateway, then the actors (SIGTERM: they drain; SIGKILL after the grace period), then
 * nats-server and the sink, and exit 0; a second Ctrl-C kills everything at once.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { errorFields } from "../../observability/logger.ts";
import { onExitEvent } from "../../platform/exit-hooks.ts";
import {
  currentDir,
  fileExists,
  joinPath,
  makeDir,
  relativePath,
  resolvePath,
} from "../../platform/files.ts";
import { connect } from "../../platform/nats-connect.ts";
import { exitProcess, onHangup, onShutdownSignal } from "../../platform/shutdown-signals.ts";
import { currentPid } from "../../platform/spawn-process.ts";
import { parseServers } from "../process-env.ts";
import { choosePort } from "./choose-port.ts";
import { createDevConsole, type Printer } from "./dev-console.ts";
import { loadDevJwt } from "./dev-jwt.ts";
import { startDevMailSink } from "./dev-mail-sink.ts";
import { type DevNatsServer, startDevNatsServer } from "./dev-nats-server.ts";
import { type ActorRuntime, type DevOptions, resolveDevOptions } from "./dev-options.ts";
import {
  type DevProcessRecord,
  isRunning,
  readDevState,
  reapLeftoverProcesses,
  removeDevState,
  writeDevState,
} from "./dev-state.ts";
import { formatSummary } from "./dev-summary.ts";
import { type ActorEntry, findActors, GATEWAY_ACTOR } from "./find-actors.ts";
import {
  defaultRestartPolicy,
  describeExit,
  type SupervisedProcess,
  startSupervisedProcess,
} from "./supervised-process.ts";
import { AbandonedError, waitUntilDiscoverable, waitUntilGatewayReady } from "./wait-until-ready.ts";

/** The line a script (or the e2e test) can wait for. */
export const READY_LINE = "troupe dev is ready";

/** Runs `troupe dev` until it is stopped; resolves with the exit code. */
export async function runDev(partial: Partial<DevOptions>): Promise<number> {
  const options = resolveDevOptions(partial);
  const root = resolvePath(currentDir(), options.root);
  const dataDir = resolvePath(root, options.dataDir);
  // Paths inside the project are shown relative to it, others in full.
  const shown = (path: string) => {
    const relative = relativePath(root, path);
    return relative === "" ? "." : relative.startsWith("..") ? path : relative;
  };
  const actors = findActors(resolvePath(root, options.actorsDir));
  const gatewayActor = actors.find((actor) => actor.name === GATEWAY_ACTOR);
  const devConsole = createDevConsole({
    names: ["troupe", "nats", "mail", ...actors.map((a) => a.name)],
    color: options.color,
    jsonLogs: options.jsonLogs,
  });
  const say = devConsole.printer("troupe");
  if (actors.length === 0) {
    say.error(`no actors: no ${shown(resolvePath(root, options.actorsDir))}/<name>/main.ts`);
    return 1;
  }
  makeDir(dataDir);

  const earlier = readDevState(dataDir);
  if (earlier !== undefined && isRunning(earlier, currentPid())) {
    say.error(
      `troupe dev already runs with ${shown(dataDir)} (pid ${earlier.pid}` +
        `${earlier.gatewayUrl === undefined ? "" : `, gateway ${earlier.gatewayUrl}`}); stop it first or use --data-dir`,
    );
    return 1;
  }
  if (earlier !== undefined) {
    const reaped = reapLeftoverProcesses(earlier);
    if (reaped.length > 0) say.line(`stopped what an earlier troupe dev left running: ${reaped.join(", ")}`);
  }

  const startedAt = Date.now();
  const children = new Map<string, SupervisedProcess>();
  let nats: DevNatsServer | undefined;
  let nc: NatsConnection | undefined;
  let stopSink: (() => Promise<void>) | undefined;

  // Stop requests (signals) and a child's exit during startup both end the readiness waits.
  let requestStop: (reason: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    requestStop = resolve;
  });
  let stopping = false;
  const killAll = () => {
    for (const child of children.values()) child.kill();
    nats?.kill();
  };
  // The last resort: whatever way this process ends, no child outlives it.
  const removeExitHook = onExitEvent(killAll);
  const onSignal = (signal: string) => {
    if (stopping) {
      say.error(`${signal} again: killing everything`);
      killAll();
      exitProcess(130);
    }
    stopping = true;
    requestStop(signal);
  };
  const removeSignals = onShutdownSignal(onSignal);
  const removeHangup = onHangup(() => onSignal("SIGHUP"));

  const records = new Map<string, DevProcessRecord>();
  let gatewayUrl: string | undefined;
  let smtpUrl = "";
  let natsUrl = "";
  const saveState = (ready: boolean) =>
    writeDevState(dataDir, {
      pid: currentPid(),
      ready,
      natsUrl,
      natsServerPid: nats?.pid,
      smtpUrl,
      gatewayUrl,
      processes: [...records.values()],
    });

  let code = 0;
  try {
    // 1. NATS
    if (options.natsUrl !== undefined) {
      natsUrl = options.natsUrl;
      say.line(`using the NATS server at ${natsUrl} (NATS_URL)`);
    } else {
      const natsDir = joinPath(dataDir, "nats");
      const natsPrinter = devConsole.printer("nats");
      nats = await startDevNatsServer({
        dir: natsDir,
        port: options.natsPort,
        startTimeoutMs: options.readyTimeoutMs,
        // Its start-up banner is long: only warnings, errors and "ready" are shown.
        onOutput: (chunk, stream) => {
          const kept = chunk
            .split("\n")
            // (A failed health check while it is still starting is expected: our own readiness probe.)
            .filter(
              (line) => /\[(WRN|ERR|FTL)\]|Server is ready/.test(line) && !/Healthcheck failed/.test(line),
            )
            .join("\n");
          if (kept !== "") natsPrinter.output(`${kept}\n`, stream);
        },
      });
      natsUrl = nats.url;
      if (nats.fellBack) natsPrinter.line(`port ${options.natsPort} is taken; using ${natsUrl}`);
      natsPrinter.line(
        `${nats.reused ? "reusing the" : "started"} nats-server ${nats.version} on ${natsUrl} (pid ${nats.pid}, store ${shown(natsDir)})`,
      );
    }
    nc = await connect({ servers: parseServers(natsUrl), name: "troupe-dev" });

    // 2. The SMTP sink
    const mailDir = joinPath(dataDir, "mail");
    const mailPrinter = devConsole.printer("mail");
    const mail = await startDevMailSink({
      dir: mailDir,
      port: options.smtpPort,
      root,
      log: mailPrinter.line,
    });
    stopSink = () => mail.sink.stop();
    smtpUrl = mail.sink.url;
    if (mail.fellBack) mailPrinter.line(`port ${options.smtpPort} is taken; using ${smtpUrl}`);
    mailPrinter.line(`SMTP sink on ${smtpUrl}, saving mail in ${shown(mailDir)}`);

    // 3. The dev JWT and the gateway's port
    const jwt = await loadDevJwt(joinPath(dataDir, "jwt"));
    let gatewayPort = options.gatewayPort;
    if (gatewayActor !== undefined) {
      const chosen = await choosePort(options.gatewayPort);
      gatewayPort = chosen.port;
      if (chosen.fellBack) say.line(`port ${options.gatewayPort} is taken; the gateway uses ${gatewayPort}`);
      gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    }
    const env: Record<string, string> = {
      NATS_URL: natsUrl,
      SMTP_URL: smtpUrl,
      TROUPE_LOG_LEVEL: options.logLevel,
      // Children drain within two thirds of the grace period, before a SIGKILL would come.
      TROUPE_DRAIN_GRACE_MS: String(Math.floor((options.stopGraceMs * 2) / 3)),
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_JWT_PUBLIC_KEY: jwt.publicKeyPem,
      // The one algorithm the dev key signs with (a PEM key is imported for one algorithm).
      GATEWAY_JWT_ALGORITHMS: jwt.algorithm,
      GATEWAY_JWT_ISSUER: jwt.issuer,
      GATEWAY_JWT_AUDIENCE: jwt.audience,
    };

    // 4. The actors, then the gateway; each must be discoverable before startup ends.
    const failure = new Promise<never>((_, reject) => {
      void stopRequested.then((signal) => reject(new AbandonedError(`${signal} during startup`)));
    });
    failure.catch(() => {});
    let startingUp = true;
    const start = (actor: ActorEntry): Promise<never> => {
      const printer = devConsole.printer(actor.name);
      const { command, args } = actorCommand(options.runtime, root, actor.file);
      const child = startSupervisedProcess({
        name: actor.name,
        command,
        args,
        cwd: root,
        env,
        printer,
        restart: defaultRestartPolicy,
        onStarted: (pid) => {
          records.set(actor.name, { name: actor.name, pid, file: actor.file });
          saveState(!startingUp);
          if (!startingUp) printer.line(`restarted (pid ${pid})`);
        },
      });
      children.set(actor.name, child);
      return child.exited.then((status) => {
        throw new StartupFailure(child, status);
      });
    };
    const actorExits = actors.filter((a) => a !== gatewayActor).map(start);
    const abandon = Promise.race([failure, ...actorExits]);
    abandon.catch(() => {});
    const waitOptions = { timeoutMs: options.readyTimeoutMs, abandon };
    await waitUntilDiscoverable(
      nc,
      actors.filter((a) => a !== gatewayActor).map((a) => a.name),
      waitOptions,
    );
    if (gatewayActor !== undefined && gatewayUrl !== undefined) {
      const gatewayExit = start(gatewayActor);
      const withGateway = { ...waitOptions, abandon: Promise.race([abandon, gatewayExit]) };
      withGateway.abandon.catch(() => {});
      await waitUntilDiscoverable(nc, [GATEWAY_ACTOR], withGateway);
      await waitUntilGatewayReady(gatewayUrl, withGateway);
    }
    startingUp = false;
    for (const child of children.values()) child.supervise();
    saveState(true);

    devConsole.plain(
      formatSummary({
        gatewayUrl,
        natsUrl,
        natsStore: nats === undefined ? undefined : shown(joinPath(dataDir, "nats")),
        smtpUrl,
        mailDir: shown(mailDir),
        dataDir: shown(dataDir),
        token: jwt.token,
        tokenSubject: jwt.subject,
        processes: actors.map((a) => a.name),
        startupMs: Date.now() - startedAt,
      }),
    );
    say.line(
      `${READY_LINE}: ${actors.length} processes; status in ${shown(joinPath(dataDir, "troupe-dev.json"))}`,
    );

    const signal = await stopRequested;
    say.line(`${signal}: stopping`);
  } catch (err) {
    if (err instanceof StartupFailure) {
      say.error(`${err.child.name} exited during startup (${describeExit(err.status)}); its last lines:`);
      for (const line of err.child.lastLines(20)) say.error(`  ${line}`);
      code = 1;
    } else if (err instanceof AbandonedError) {
      say.line(`${err.message}: stopping`);
    } else {
      say.error(`cannot start: ${String(errorFields(err).error)}`);
      code = 1;
    }
  }

  // Shutdown, in the reverse order of startup: the edge first, so no request enters a stopping system.
  stopping = true;
  const stopOne = async (child: SupervisedProcess) => {
    const status = await child.stop(options.stopGraceMs);
    const printer: Printer = devConsole.printer(child.name);
    printer.line(`stopped (${describeExit(status)})`);
  };
  const gateway = children.get(GATEWAY_ACTOR);
  if (gateway !== undefined) await stopOne(gateway);
  await Promise.all([...children.values()].filter((c) => c !== gateway).map(stopOne));
  await nc?.close().catch(() => {});
  await nats?.stop(options.stopGraceMs);
  if (nats !== undefined) devConsole.printer("nats").line("stopped");
  await stopSink?.();
  removeDevState(dataDir);
  removeSignals();
  removeHangup();
  removeExitHook();
  say.line(code === 0 ? "stopped; nothing left running" : "stopped");
  return code;
}

/** A process that exited while `troupe dev` was starting. */
class StartupFailure extends Error {
  override name = "StartupFailure";
  readonly child: SupervisedProcess;
  readonly status: { code: number | null; signal: string | null };
  constructor(child: SupervisedProcess, status: { code: number | null; signal: string | null }) {
    super(`${child.name} exited during startup`);
    this.child = child;
    this.status = status;
  }
}

/** `bun run <file>` (or deno/node), with the project's own runtime binary when it has one. */
function actorCommand(
  runtime: ActorRuntime,
  root: string,
  file: string,
): { command: string; args: string[] } {
  const local = joinPath(root, "node_modules", ".bin", runtime);
  const command = fileExists(local) ? local : runtime;
  switch (runtime) {
    case "bun":
      return { command, args: ["run", file] };
    case "deno":
      return { command, args: ["run", "-A", file] };
    case "node":
      return { command, args: [file] };
  }
}
