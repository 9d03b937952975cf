/**
 * `troupe dev`: runs the whole system locally (docs/adr/0010-dev-orchestrator.md), as the
 * project's troupe.json describes it (docs/adr/0016-project-configuration.md):
 *
 * 1. a nats-server with JetStream, its store in `<data dir>/nats` (or NATS_URL's server);
 * 2. the extra services of troupe.json (a mail sink …), each until it is ready;
 * 3. every `<actors>/<name>/main.ts` as its own process (`bun run …`), the gateway last,
 *    each line of their output prefixed with the name;
 * 4. once every actor answers `$SRV.PING` and the gateway's `/readyz` is 200: the summary, with
 *    calls to try taken from the contracts.
 *
 * A process that exits during startup stops everything (exit 1, naming it, with its last lines):
 * an actor whose `defineActor` name is not its folder's does so at once (TROUPE_ACTOR_NAME).
 * Later, one that exits by itself is restarted with back-off; with `--watch`, an actor is also
 * restarted when a file it loads changes (dev-watch.ts). SIGINT/SIGTERM/SIGHUP stop the
 * gateway, then the actors (SIGTERM: they drain; SIGKILL after the grace period), then the
 * services and nats-server, and exit 0; a second Ctrl-C kills everything at once.
 */
import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { DEFAULT_ADMIN_PORT, GATEWAY_SERVICE_NAME } from "../../gateway/serve-gateway.ts";
import { errorFields } from "../../observability/logger.ts";
import { readEnv } from "../../platform/env.ts";
import { onExitEvent } from "../../platform/exit-hooks.ts";
import {
  currentDir,
  joinPath,
  listFilesDeep,
  makeDir,
  readTextFile,
  relativePath,
  resolvePath,
} from "../../platform/files.ts";
import { connect } from "../../platform/nats-connect.ts";
import { exitProcess, onHangup, onShutdownSignal } from "../../platform/shutdown-signals.ts";
import { currentPid } from "../../platform/spawn-process.ts";
import { CONTRACTS_ENV } from "../../process/load-contracts.ts";
import { parseServers } from "../../process/process-env.ts";
import { OTEL_BSP_DELAY_ENV, OTEL_OTLP_ENV, TROUPE_OTLP_ENV } from "../../process/tracing-from-env.ts";
import { ensureLocalCertificates } from "../../security/local-certificates.ts";
import { ADMIN_USER, type AuthFolder } from "../auth/auth-folder.ts";
import { generateProjectAuth, refreshProcessAuth } from "../auth/project-auth.ts";
import {
  DEFAULT_DASHBOARD_PORT,
  type RunningDashboard,
  serveDashboard,
} from "../dashboard/serve-dashboard.ts";
import { PROJECT_CONFIG_FILE, type ProjectConfig, readProjectConfig } from "../project-config.ts";
import { createActorRestarter } from "./actor-restarter.ts";
import { choosePort } from "./choose-port.ts";
import { createDevConsole, type Printer } from "./dev-console.ts";
import { examplesFromContracts } from "./dev-examples.ts";
import { loadDevJwt } from "./dev-jwt.ts";
import { type DevNatsServer, startDevNatsServer } from "./dev-nats-server.ts";
import { type DevOptions, resolveDevOptions } from "./dev-options.ts";
import { type DevService, startDevService } from "./dev-service.ts";
import {
  type DevProcessRecord,
  isRunning,
  readDevState,
  reapLeftoverProcesses,
  removeDevState,
  writeDevState,
} from "./dev-state.ts";
import { formatSummary } from "./dev-summary.ts";
import { type DevWatch, startDevWatch, WATCH_DEBOUNCE_MS } from "./dev-watch.ts";
import { type ActorEntry, actorCommand, findActors } from "./find-actors.ts";
import {
  defaultRestartPolicy,
  describeExit,
  type SupervisedProcess,
  startSupervisedProcess,
} from "./supervised-process.ts";
import { AbandonedError, waitUntilDiscoverable, waitUntilGatewayReady } from "./wait-until-ready.ts";

/** The line a script (or the e2e test) can wait for. */
export const READY_LINE = "troupe dev is ready";

/** How often processes under troupe dev export their spans (to the dashboard), in milliseconds. */
const DEV_TRACE_EXPORT_DELAY_MS = 500;

/** Variables troupe dev gives every actor itself; a service's `env` must not set them. */
const OWN_ENV = [
  "NATS_URL",
  "TROUPE_LOG_LEVEL",
  "TROUPE_DRAIN_GRACE_MS",
  "TROUPE_ACTOR_NAME",
  "TROUPE_ACTOR_FILE",
  "TROUPE_DIRECT_CERT",
  "TROUPE_DIRECT_KEY",
  CONTRACTS_ENV,
  "GATEWAY_PORT",
  "GATEWAY_HOST",
  "GATEWAY_ADMIN_PORT",
  "GATEWAY_ADMIN_HOST",
  "GATEWAY_JWT_PUBLIC_KEY",
  "GATEWAY_JWT_ALGORITHMS",
  "GATEWAY_JWT_ISSUER",
  "GATEWAY_JWT_AUDIENCE",
] as const;

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
  let config: ProjectConfig;
  try {
    config = readProjectConfig(root);
    checkAgainstOptions(config, options);
  } catch (err) {
    createDevConsole({ names: ["troupe"], color: options.color, jsonLogs: false })
      .printer("troupe")
      .error(`cannot start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const actorsDir = resolvePath(root, options.actorsDir ?? config.actors);
  const contractsDir = resolvePath(root, config.contracts);
  const actors = findActors(actorsDir, config.gateway.actor);
  const gatewayActor = actors.find((actor) => actor.name === config.gateway.actor);
  const serviceNames = Object.keys(config.services);
  const devConsole = createDevConsole({
    names: ["troupe", "nats", ...serviceNames, ...actors.map((a) => a.name)],
    color: options.color,
    jsonLogs: options.jsonLogs,
  });
  const say = devConsole.printer("troupe");
  if (actors.length === 0) {
    say.error(`no actors: no ${shown(actorsDir)}/<name>/main.ts`);
    return 1;
  }
  const clash = actors.find((actor) => serviceNames.includes(actor.name));
  if (clash !== undefined) {
    say.error(
      `cannot start: ${PROJECT_CONFIG_FILE}: services.${clash.name} has the name of the actor ${shown(clash.file)}`,
    );
    return 1;
  }
  makeDir(dataDir);
  // Read while the rest starts: importing the contracts takes a moment.
  const examples = examplesFromContracts(contractsDir, shown(contractsDir));

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
  const services: DevService[] = [];
  let nats: DevNatsServer | undefined;
  let nc: NatsConnection | undefined;
  let watch: DevWatch | undefined;

  // Stop requests (signals) and a child's exit during startup both end the readiness waits.
  let requestStop: (reason: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    requestStop = resolve;
  });
  let stopping = false;
  const killAll = () => {
    for (const child of children.values()) child.kill();
    for (const service of services) service.child.kill();
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
  const serviceRecords = new Map<string, DevProcessRecord>();
  let gatewayUrl: string | undefined;
  let metricsUrl: string | undefined;
  let dashboard: RunningDashboard | undefined;
  let natsUrl = "";
  let auth: AuthFolder | undefined;
  let natsCreds: string | undefined;
  let natsCa: string | undefined;
  let tlsConfig = "";
  /** NATS_CREDS of the process `name` when the server runs with authentication. */
  let directTlsEnv: Record<string, string> = {};
  const credsEnv = (name: string): Record<string, string> => {
    const file = auth?.creds.get(name);
    return file === undefined ? {} : { NATS_CREDS: file };
  };
  const saveState = (ready: boolean) =>
    writeDevState(dataDir, {
      pid: currentPid(),
      ready,
      natsUrl,
      natsCreds,
      natsCa,
      natsServerPid: nats?.pid,
      gatewayUrl,
      processes: [...records.values()],
      services: [...serviceRecords.values()],
    });

  let code = 0;
  try {
    // 1. NATS, with every process's credentials derived from its declaration (ADR 30)
    if (options.natsUrl !== undefined) {
      natsUrl = options.natsUrl;
      say.line(`using the NATS server at ${natsUrl} (NATS_URL); its authentication is yours to configure`);
    } else {
      if (options.auth) {
        const authDir = joinPath(dataDir, "auth");
        auth = (
          await generateProjectAuth(root, config, authDir, {
            runtime: options.runtime,
            actorsDir,
            rotateKeys: false,
          })
        ).folder;
        say.line(
          `credentials for ${auth.creds.size - 1} processes in ${shown(authDir)}, each allowed what it declares (--no-auth: none)`,
        );
      }
      const natsDir = joinPath(dataDir, "nats");
      const natsPrinter = devConsole.printer("nats");
      if (options.tls) {
        const tlsDir = joinPath(dataDir, "tls");
        const certificates = await ensureLocalCertificates(tlsDir);
        natsCa = certificates.caFile;
        // Actors that take calls by address serve them with TLS too, on the local server
        // certificate (127.0.0.1), verified with the same CA (docs/adr/0031-direct-calls-by-address.md).
        directTlsEnv = {
          TROUPE_DIRECT_CERT: certificates.server.certFile,
          TROUPE_DIRECT_KEY: certificates.server.keyFile,
        };
        tlsConfig = [
          "tls {",
          `  cert_file: ${JSON.stringify(certificates.server.certFile)}`,
          `  key_file: ${JSON.stringify(certificates.server.keyFile)}`,
          "}",
          "",
        ].join("\n");
        say.line(
          `TLS on NATS with the local CA ${shown(natsCa)}${certificates.written.length > 0 ? " (new certificates)" : ""} (--no-tls: cleartext)`,
        );
      }
      nats = await startDevNatsServer({
        dir: natsDir,
        port: options.natsPort,
        extraConfig: tlsConfig + (auth === undefined ? "" : (readTextFile(auth.serverConfigFile) ?? "")),
        tls: natsCa !== undefined,
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
    natsCreds = auth?.creds.get(ADMIN_USER);
    nc = await connect({
      servers: parseServers(natsUrl),
      name: "troupe-dev",
      ...(natsCa === undefined ? {} : { tls: { caFile: natsCa } }),
      ...(natsCreds === undefined
        ? {}
        : { authenticator: credsAuthenticator(new TextEncoder().encode(readTextFile(natsCreds) ?? "")) }),
    });

    // A process that exits before startup is over fails it; Ctrl-C abandons it.
    const failure = new Promise<never>((_, reject) => {
      void stopRequested.then((signal) => reject(new AbandonedError(`${signal} during startup`)));
    });
    failure.catch(() => {});
    let startingUp = true;
    const exitFails = (child: SupervisedProcess): Promise<never> =>
      child.exited.then((status) => {
        throw new StartupFailure(child, status);
      });

    // 2. The project's extra services in the file's order, each ready before the next starts
    //    (a later one may need an earlier one, as the actors need them all).
    let servicesExit: Promise<never> = failure;
    for (const [name, service] of Object.entries(config.services)) {
      const printer = devConsole.printer(name);
      const started = await startDevService({
        name,
        config: service,
        port: options.servicePorts[name],
        root,
        dataDir,
        // A service gets no NATS credentials: it is not an actor, and declares nothing.
        baseEnv: { NATS_URL: natsUrl },
        printer,
        onStarted: (pid, commandLine) => {
          serviceRecords.set(name, { name, pid, file: commandLine });
          saveState(!startingUp);
          if (!startingUp) printer.line(`restarted (pid ${pid})`);
        },
      });
      services.push(started);
      const preferred = options.servicePorts[name] ?? service.port;
      if (started.fellBack) printer.line(`port ${preferred} is taken; using ${started.port}`);
      servicesExit = Promise.race([servicesExit, exitFails(started.child)]);
      servicesExit.catch(() => {});
      await started.waitUntilReady({ timeoutMs: options.readyTimeoutMs, abandon: servicesExit });
    }

    // 3. The dev JWT and the gateway's port
    const jwt = await loadDevJwt(joinPath(dataDir, "jwt"), config.gateway.jwtAudience);
    let gatewayPort = options.gatewayPort;
    let adminPort = DEFAULT_ADMIN_PORT;
    if (gatewayActor !== undefined) {
      const chosen = await choosePort(options.gatewayPort);
      gatewayPort = chosen.port;
      if (chosen.fellBack) say.line(`port ${options.gatewayPort} is taken; the gateway uses ${gatewayPort}`);
      gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
      // /metrics is on the gateway's admin listener, on loopback (ADR 25): a free port when taken.
      adminPort = (await choosePort(DEFAULT_ADMIN_PORT)).port;
      metricsUrl = `http://127.0.0.1:${adminPort}/metrics`;
    }
    // The dashboard, on loopback (ADR 27), before the actors: it receives their traces. A
    // failure to listen leaves the rest running.
    const port = (await choosePort(DEFAULT_DASHBOARD_PORT)).port;
    dashboard = await serveDashboard({ nc, serverLabel: natsUrl }, { port }).catch((err: unknown) => {
      say.error(`no dashboard: ${String(errorFields(err).error)}`);
      return undefined;
    });
    const servicesEnv: Record<string, string> = Object.assign({}, ...services.map((s) => s.env));
    const gatewayKey = auth?.publicKeys.get(GATEWAY_SERVICE_NAME);
    const env: Record<string, string> = {
      ...tracingEnv(dashboard?.url, servicesEnv),
      ...servicesEnv,
      NATS_URL: natsUrl,
      ...(natsCa === undefined ? {} : { NATS_CA: natsCa }),
      TROUPE_LOG_LEVEL: options.logLevel,
      // Children drain within two thirds of the grace period, before a SIGKILL would come.
      TROUPE_DRAIN_GRACE_MS: String(Math.floor((options.stopGraceMs * 2) / 3)),
      [CONTRACTS_ENV]: contractsDir,
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_ADMIN_PORT: String(adminPort),
      GATEWAY_ADMIN_HOST: "127.0.0.1",
      GATEWAY_JWT_PUBLIC_KEY: jwt.publicKeyPem,
      // The one algorithm the dev key signs with (a PEM key is imported for one algorithm).
      GATEWAY_JWT_ALGORITHMS: jwt.algorithm,
      GATEWAY_JWT_ISSUER: jwt.issuer,
      GATEWAY_JWT_AUDIENCE: jwt.audience,
      // Actors honour only the identities the gateway signed with its NATS user key (ADR 30).
      ...(gatewayKey === undefined ? {} : { TROUPE_GATEWAY_KEY: gatewayKey }),
    };

    // 4. The actors, then the gateway; each must be discoverable before startup ends.
    const spawnActor = (actor: ActorEntry): SupervisedProcess => {
      const printer = devConsole.printer(actor.name);
      const { command, args } = actorCommand(options.runtime, root, actor.file);
      let spawns = 0;
      const child = startSupervisedProcess({
        name: actor.name,
        command,
        args,
        cwd: root,
        // An actor must carry its folder's name; the gateway has no defineActor name to check.
        env: {
          ...env,
          ...(actor === gatewayActor
            ? {}
            : { TROUPE_ACTOR_NAME: actor.name, TROUPE_ACTOR_FILE: shown(actor.file), ...directTlsEnv }),
          ...credsEnv(actor === gatewayActor ? GATEWAY_SERVICE_NAME : actor.name),
        },
        printer,
        restart: defaultRestartPolicy,
        onStarted: (pid) => {
          records.set(actor.name, { name: actor.name, pid, file: actor.file });
          saveState(!startingUp);
          // (A restart for a change of files says so itself, once the new process is ready.)
          if (++spawns > 1) printer.line(`restarted (pid ${pid})`);
        },
      });
      children.set(actor.name, child);
      return child;
    };
    const start = (actor: ActorEntry): Promise<never> => exitFails(spawnActor(actor));
    const actorExits = actors.filter((a) => a !== gatewayActor).map(start);
    const abandon = Promise.race([servicesExit, ...actorExits]);
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
      await waitUntilDiscoverable(nc, [GATEWAY_SERVICE_NAME], withGateway);
      await waitUntilGatewayReady(gatewayUrl, withGateway);
    }
    startingUp = false;
    for (const child of children.values()) child.supervise();
    for (const service of services) service.child.supervise();
    saveState(true);

    if (options.watch) {
      const waitUntilReady = async (actor: ActorEntry, abandon: Promise<never>) => {
        const connection = nc;
        if (connection === undefined) throw new Error("not connected to NATS");
        const waitOptions = { timeoutMs: options.readyTimeoutMs, abandon };
        if (actor !== gatewayActor) return waitUntilDiscoverable(connection, [actor.name], waitOptions);
        await waitUntilDiscoverable(connection, [GATEWAY_SERVICE_NAME], waitOptions);
        if (gatewayUrl !== undefined) await waitUntilGatewayReady(gatewayUrl, waitOptions);
      };
      const restarters = new Map(
        actors.map((actor) => [
          actor.name,
          createActorRestarter({
            root,
            printer: devConsole.printer(actor.name),
            stop: async () => {
              await children.get(actor.name)?.stop(options.stopGraceMs);
              // Its declaration may have changed with its files: its user follows (ADR 30). A
              // file that does not load fails the start that follows, which says why.
              if (auth !== undefined) {
                await refreshProcessAuth(root, config, auth.dir, actor, options.runtime).catch(() => {});
              }
            },
            start: () => (stopping ? undefined : spawnActor(actor)),
            waitUntilReady: (abandon) => waitUntilReady(actor, abandon),
            stopping: () => stopping,
          }),
        ]),
      );
      watch = startDevWatch({
        root,
        actorsDir,
        actors,
        // The gateway imports every contract at run time (TROUPE_CONTRACTS), none by name.
        loadsAlso: (actor) =>
          actor === gatewayActor
            ? listFilesDeep(contractsDir).map((file) => joinPath(contractsDir, file))
            : [],
        debounceMs: WATCH_DEBOUNCE_MS,
        onRestart: (changes) => {
          for (const [name, files] of changes) restarters.get(name)?.request(files);
        },
        onNewActor: (name, file) =>
          say.line(`${shown(file)} is a new actor: restart troupe dev to start ${name}`),
        onWatchError: (dir, err) =>
          say.error(`cannot watch ${shown(dir)} for changes: ${String(errorFields(err).error)}`),
      });
    }

    devConsole.plain(
      formatSummary({
        gatewayUrl,
        metricsUrl,
        dashboardUrl: dashboard?.url,
        natsUrl,
        natsCreds: natsCreds === undefined ? undefined : shown(natsCreds),
        natsCa: natsCa === undefined ? undefined : shown(natsCa),
        natsStore: nats === undefined ? undefined : shown(joinPath(dataDir, "nats")),
        services: services.map((s) => ({ name: s.name, port: s.port, env: s.env })),
        dataDir: shown(dataDir),
        token: jwt.token,
        tokenSubject: jwt.subject,
        tokenAudience: jwt.audience,
        processes: actors.map((a) => a.name),
        startupMs: Date.now() - startedAt,
        examples: await examples.then((found) => {
          if (typeof found !== "string") return found;
          say.line(`no calls to suggest: ${found} (${PROJECT_CONFIG_FILE} "contracts")`);
          return undefined;
        }),
      }),
    );
    const count = actors.length + services.length;
    say.line(
      `${READY_LINE}: ${count} ${count === 1 ? "process" : "processes"}; status in ${shown(joinPath(dataDir, "troupe-dev.json"))}` +
        (watch === undefined ? "" : `; watching ${shown(actorsDir)} and what the actors import for changes`),
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

  // Shutdown, in the reverse order of startup: the edge first, so no request enters a stopping
  // system; the services after the actors that use them.
  stopping = true;
  watch?.close();
  const stopOne = async (child: SupervisedProcess) => {
    const status = await child.stop(options.stopGraceMs);
    const printer: Printer = devConsole.printer(child.name);
    printer.line(`stopped (${describeExit(status)})`);
  };
  const gateway = gatewayActor === undefined ? undefined : children.get(gatewayActor.name);
  if (gateway !== undefined) await stopOne(gateway);
  await Promise.all([...children.values()].filter((c) => c !== gateway).map(stopOne));
  await Promise.all(services.map((s) => stopOne(s.child)));
  await dashboard?.stop(0);
  await nc?.close().catch(() => {});
  await nats?.stop(options.stopGraceMs);
  if (nats !== undefined) devConsole.printer("nats").line("stopped");
  removeDevState(dataDir);
  removeSignals();
  removeHangup();
  removeExitHook();
  say.line(code === 0 ? "stopped; nothing left running" : "stopped");
  return code;
}

/**
 * Points the processes' trace exporter at the dashboard (its OTLP/HTTP receiver), exporting
 * every half second rather than every five: unless the user names a collector of their own,
 * in their environment or a service's `env` (docs/adr/0014-tracing-and-metrics.md).
 */
function tracingEnv(
  dashboardUrl: string | undefined,
  servicesEnv: Readonly<Record<string, string>>,
): Record<string, string> {
  const own = (name: string) => readEnv(name) !== undefined || servicesEnv[name] !== undefined;
  if (dashboardUrl === undefined || own(TROUPE_OTLP_ENV) || own(OTEL_OTLP_ENV)) return {};
  return {
    [TROUPE_OTLP_ENV]: dashboardUrl,
    ...(own(OTEL_BSP_DELAY_ENV) ? {} : { [OTEL_BSP_DELAY_ENV]: String(DEV_TRACE_EXPORT_DELAY_MS) }),
  };
}

/** Flags that name parts of troupe.json must name ones it has. */
function checkAgainstOptions(config: ProjectConfig, options: DevOptions): void {
  for (const name of Object.keys(options.servicePorts)) {
    if (config.services[name] === undefined) {
      throw new Error(`--service-port ${name}: ${PROJECT_CONFIG_FILE} has no service "${name}"`);
    }
  }
  for (const [name, service] of Object.entries(config.services)) {
    for (const variable of Object.keys(service.env)) {
      if ((OWN_ENV as readonly string[]).includes(variable)) {
        throw new Error(
          `${PROJECT_CONFIG_FILE}: services.${name}.env.${variable} is set by troupe dev itself`,
        );
      }
    }
  }
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
