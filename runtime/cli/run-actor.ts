/**
 * The entry point of an actor process: `await runActor(userActor)` at the end of
 * `actors/<name>/main.ts`, run with `bun run`, `deno run -A` or `node`. Reads the environment,
 * connects to NATS, refuses a server older than Troupe supports, serves the actor, and on
 * SIGTERM/SIGINT drains (leaves discovery, finishes in-flight calls within the grace period,
 * drains the connection) and exits 0.
 *
 * Environment: NATS_URL (comma-separated; default nats://127.0.0.1:4222), NATS_CREDS (a creds
 * file), NATS_USER + NATS_PASSWORD, NATS_TOKEN, TROUPE_NAMESPACE, TROUPE_DRAIN_GRACE_MS (10000),
 * TROUPE_MAX_IN_FLIGHT (1000: calls served at once before shedding), TROUPE_ROUTES (`off` turns
 * the watched version routing of its calls off), TROUPE_LOG_LEVEL (info),
 * TROUPE_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (an OTLP/HTTP collector, e.g.
 * http://127.0.0.1:4318: traces are exported there, service.name = the actor's name; unset, no
 * SDK is installed and tracing costs nothing).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { ActorDefinition } from "../actor/define-actor.ts";
import { defaultServeActorOptions, type RunningActor, serveActor } from "../actor/serve-actor.ts";
import { createJsonLogger, errorFields, type LogLevel } from "../observability/logger.ts";
import { readEnv } from "../platform/env.ts";
import { hostName, runtimeInfo } from "../platform/runtime-info.ts";
import { exitProcess } from "../platform/shutdown-signals.ts";
import type { TracingSdk } from "../platform/tracing-sdk.ts";
import { connectFromEnv, drainOnSignal, watchRoutesFromEnv, wholeNumberFromEnv } from "./process-env.ts";
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
  const fail = (message: string, err?: unknown): never => {
    logger.log("error", message, err === undefined ? undefined : errorFields(err));
    return exitProcess(1);
  };
  const wholeNumber = (name: string, fallback: number): number => {
    try {
      return wholeNumberFromEnv(name, fallback);
    } catch (err) {
      return fail("the actor cannot start", err);
    }
  };
  const graceMs = wholeNumber("TROUPE_DRAIN_GRACE_MS", 10_000);
  const maxInFlight = wholeNumber("TROUPE_MAX_IN_FLIGHT", defaultServeActorOptions.maxInFlight);

  let tracing: TracingSdk | undefined;
  let nc: NatsConnection;
  try {
    tracing = await tracingFromEnv(definition.name);
    nc = await connectFromEnv(definition.name);
  } catch (err) {
    return fail("the actor cannot start", err);
  }

  const namespace = readEnv("TROUPE_NAMESPACE") ?? "";
  const routes = await watchRoutesFromEnv(nc, namespace, logger);
  let actor: RunningActor;
  try {
    actor = await serveActor(nc, definition, {
      namespace,
      transport: { routes },
      runtime: `${runtime.name} ${runtime.version}`,
      host: hostName(),
      maxInFlight,
      logger,
    });
  } catch (err) {
    // E.g. a stream change that needs a destructive migration, or a server too old for a feature.
    await nc.close();
    return fail("the actor cannot start", err);
  }
  logger.log("info", "actor ready", {
    id: actor.id,
    version: definition.version,
    runtime: `${runtime.name} ${runtime.version}`,
    nats: nc.getServer(),
    endpoints: actor.host.endpoints.map((e) => e.subject),
    consumers: actor.consumers.map((c) => `${c.stream}/${c.consumer}`),
  });

  const stopped = drainOnSignal(
    logger,
    () => ({ inFlight: actor.host.inFlight, graceMs }),
    async () => {
      await actor.drain(graceMs);
      routes?.stop();
      await nc.drain();
      await tracing?.shutdown(); // exports the spans still buffered
    },
  );
  return { nc, actor, stopped };
}
