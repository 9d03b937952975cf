/**
 * The entry point of an actor process: `await runActor(userActor)` at the end of
 * `actors/<name>/main.ts`, run with `bun run`, `deno run -A` or `node`. Reads the environment,
 * connects to NATS, refuses a server older than Troupe supports, serves the actor, and on
 * SIGTERM/SIGINT drains (leaves discovery, finishes in-flight calls within the grace period,
 * drains the connection) and exits 0.
 *
 * Environment: NATS_URL (comma-separated; default nats://127.0.0.1:4222), NATS_CREDS (a creds
 * file), NATS_USER + NATS_PASSWORD, NATS_TOKEN, TROUPE_NAMESPACE, TROUPE_DRAIN_GRACE_MS (10000),
 * TROUPE_LOG_LEVEL (info), TROUPE_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (an OTLP/HTTP
 * collector, e.g. http://127.0.0.1:4318: traces are exported there, service.name = the actor's
 * name; unset, no SDK is installed and tracing costs nothing).
 */
import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import type { ActorDefinition } from "../actor/define-actor.ts";
import { type RunningActor, serveActor } from "../actor/serve-actor.ts";
import { createJsonLogger, errorFields, type LogLevel } from "../observability/logger.ts";
import { readEnv } from "../platform/env.ts";
import { readTextFile } from "../platform/files.ts";
import { connect } from "../platform/nats-connect.ts";
import { hostName, runtimeInfo } from "../platform/runtime-info.ts";
import { exitProcess, onShutdownSignal } from "../platform/shutdown-signals.ts";
import type { TracingSdk } from "../platform/tracing-sdk.ts";
import {
  formatServerVersion,
  isAtLeast,
  MIN_SERVER_VERSION,
  parseServerVersion,
} from "../protocol/server-version.ts";
import { tracingFromEnv } from "./tracing-from-env.ts";

export interface ActorProcess {
  readonly nc: NatsConnection;
  readonly actor: RunningActor;
  /** Resolves with the exit code once the process has shut down (it then exits). */
  readonly stopped: Promise<number>;
}

export async function runActor(definition: ActorDefinition): Promise<ActorProcess> {
  const runtime = runtimeInfo();
  const logger = createJsonLogger(
    { actor: definition.name },
    (readEnv("TROUPE_LOG_LEVEL") as LogLevel | undefined) ?? "info",
  );
  const servers = (readEnv("NATS_URL") ?? "nats://127.0.0.1:4222").split(",").map((s) => s.trim());
  const graceMs = Number(readEnv("TROUPE_DRAIN_GRACE_MS") ?? 10_000);
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    const value = readEnv("TROUPE_DRAIN_GRACE_MS");
    logger.log("error", `TROUPE_DRAIN_GRACE_MS must be a number of milliseconds, got "${value}"`);
    return exitProcess(1);
  }
  const credsFile = readEnv("NATS_CREDS");
  const creds = credsFile === undefined ? undefined : readTextFile(credsFile);
  if (credsFile !== undefined && creds === undefined) {
    logger.log("error", `cannot read NATS_CREDS file ${credsFile}`);
    exitProcess(1);
  }

  let tracing: TracingSdk | undefined;
  try {
    tracing = await tracingFromEnv(definition.name);
  } catch (err) {
    logger.log("error", "the actor cannot start", errorFields(err));
    return exitProcess(1);
  }

  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: definition.name,
      maxReconnectAttempts: -1,
      ...(creds === undefined ? {} : { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) }),
      ...optional("user", readEnv("NATS_USER")),
      ...optional("pass", readEnv("NATS_PASSWORD")),
      ...optional("token", readEnv("NATS_TOKEN")),
    });
  } catch (err) {
    logger.log("error", `cannot connect to NATS at ${servers.join(",")}`, errorFields(err));
    return exitProcess(1);
  }

  const reported = parseServerVersion(nc.info?.version ?? "");
  const min = parseServerVersion(MIN_SERVER_VERSION);
  if (reported === undefined || min === undefined || !isAtLeast(reported, min)) {
    logger.log(
      "error",
      `nats-server ${reported ? formatServerVersion(reported) : "(unknown version)"} at ${servers.join(",")} is too old: ` +
        `Troupe needs ${MIN_SERVER_VERSION} or newer`,
    );
    await nc.close();
    return exitProcess(1);
  }

  let actor: RunningActor;
  try {
    actor = await serveActor(nc, definition, {
      namespace: readEnv("TROUPE_NAMESPACE") ?? "",
      runtime: `${runtime.name} ${runtime.version}`,
      host: hostName(),
      logger,
    });
  } catch (err) {
    // E.g. a stream change that needs a destructive migration, or a server too old for a feature.
    logger.log("error", "the actor cannot start", errorFields(err));
    await nc.close();
    return exitProcess(1);
  }
  logger.log("info", "actor ready", {
    id: actor.id,
    version: definition.version,
    runtime: `${runtime.name} ${runtime.version}`,
    nats: nc.getServer(),
    endpoints: actor.host.endpoints.map((e) => e.subject),
    consumers: actor.consumers.map((c) => `${c.stream}/${c.consumer}`),
  });

  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    onShutdownSignal(async (signal) => {
      if (stopping) return;
      stopping = true;
      logger.log("info", "draining", { signal, inFlight: actor.host.inFlight, graceMs });
      let code = 0;
      try {
        await actor.drain(graceMs);
        await nc.drain();
        await tracing?.shutdown(); // exports the spans still buffered
      } catch (err) {
        logger.log("error", "drain failed", errorFields(err));
        code = 1;
      }
      logger.log("info", "stopped", { code });
      resolve(code);
      exitProcess(code);
    });
  });
  return { nc, actor, stopped };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
