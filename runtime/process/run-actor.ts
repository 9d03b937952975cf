/**
 * The entry point of an actor process: `await runActor(userActor)` at the end of
 * `actors/<name>/main.ts`, run with `bun run`, `deno run -A` or `node`. Reads the environment,
 * connects to NATS, refuses a server older than Troupe supports, serves the actor, and on
 * SIGTERM/SIGINT drains (leaves discovery, finishes in-flight calls within the grace period,
 * drains the connection) and exits 0.
 *
 * Environment: NATS_URL (comma-separated; default nats://127.0.0.1:4222), NATS_CREDS (a creds
 * file), NATS_USER + NATS_PASSWORD, NATS_TOKEN, TROUPE_NAMESPACE, TROUPE_JETSTREAM_REPLICAS (1;
 * 3 or 5 on a cluster: the copies of the streams, consumers and KV buckets the actor declares
 * without a count of its own), TROUPE_DRAIN_GRACE_MS (10000),
 * TROUPE_MAX_IN_FLIGHT (1000: calls served at once before shedding), TROUPE_ROUTES (`off` turns
 * the watched version routing of its calls off), TROUPE_LOG_LEVEL (info),
 * TROUPE_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (an OTLP/HTTP collector, e.g.
 * http://127.0.0.1:4318: traces are exported there, service.name = the actor's name; unset, no
 * SDK is installed and tracing costs nothing), TROUPE_ACTOR_NAME (the name the actor must have:
 * `troupe dev` sets it to the actor's folder name, and a different `defineActor` name stops the
 * process at once, naming TROUPE_ACTOR_FILE, its main file), TROUPE_PRINT_DECLARATION (`1`: print
 * the actor's declaration as JSON and exit, print-declaration.ts), TROUPE_GATEWAY_KEY (the gateway's
 * public nkeys, comma-separated: identity headers must carry its signature), TROUPE_DIRECT_LISTEN
 * (`host:port`, port 0 for any, or `off`: where an actor takes unary calls over TCP, advertised in
 * discovery for callers that call by address; docs/adr/0031-direct-calls-by-address.md; unset,
 * one whose definition says `direct: true` listens on 127.0.0.1 with a free port) and
 * TROUPE_DIRECT_ADVERTISE (the `host:port` callers are told, when it differs), TROUPE_DIRECT_CERT
 * and TROUPE_DIRECT_KEY (PEM files: the listener speaks TLS, and callers verify it with NATS_CA).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { declarationOf } from "../actor/actor-declaration.ts";
import type { ActorDefinition } from "../actor/define-actor.ts";
import {
  defaultServeActorOptions,
  type RunningActor,
  type ServeActorOptions,
  serveActor,
} from "../actor/serve-actor.ts";
import { createJsonLogger, errorFields, type LogLevel } from "../observability/logger.ts";
import { readEnv } from "../platform/env.ts";
import { readTextFile } from "../platform/files.ts";
import { hostName, runtimeInfo } from "../platform/runtime-info.ts";
import { exitProcess } from "../platform/shutdown-signals.ts";
import type { TracingSdk } from "../platform/tracing-sdk.ts";
import { parseDirectAddress } from "../protocol/direct-frames.ts";
import { declarationRequested, printDeclarationAndExit } from "./print-declaration.ts";
import {
  connectFromEnv,
  drainOnSignal,
  gatewayKeysFromEnv,
  watchRoutesFromEnv,
  wholeNumberFromEnv,
} from "./process-env.ts";
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
  const mismatch = actorNameMismatch(
    readEnv("TROUPE_ACTOR_NAME"),
    definition.name,
    readEnv("TROUPE_ACTOR_FILE"),
  );
  if (mismatch !== undefined) return fail(mismatch);
  if (declarationRequested()) return printDeclarationAndExit(declarationOf(definition));
  const wholeNumber = (name: string, fallback: number): number => {
    try {
      return wholeNumberFromEnv(name, fallback);
    } catch (err) {
      return fail("the actor cannot start", err);
    }
  };
  const graceMs = wholeNumber("TROUPE_DRAIN_GRACE_MS", 10_000);
  let direct: ServeActorOptions["direct"];
  try {
    direct = directFromEnv(definition.direct === true);
  } catch (err) {
    return fail("the actor cannot start", err);
  }
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
  const identityKeys = gatewayKeysFromEnv();
  if (identityKeys.length === 0 && readEnv("NATS_CREDS") !== undefined) {
    logger.log("warn", "TROUPE_GATEWAY_KEY is not set: identity headers are taken as they come", {
      see: "docs/guide/security.md",
    });
  }
  const routes = await watchRoutesFromEnv(nc, namespace, logger);
  let actor: RunningActor;
  try {
    actor = await serveActor(nc, definition, {
      namespace,
      transport: { routes },
      runtime: `${runtime.name} ${runtime.version}`,
      host: hostName(),
      maxInFlight,
      identityKeys,
      logger,
      direct,
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
    ...(actor.direct === undefined ? {} : { direct: actor.direct.address }),
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

/**
 * Why an actor must not start under the name it was started as, or undefined when it may.
 * `troupe dev` knows an actor by its folder (`actors/<name>/main.ts`) and waits for that name in
 * discovery; an actor that called itself something else would leave it waiting for nothing.
 */
export function actorNameMismatch(
  expected: string | undefined,
  defined: string,
  file: string | undefined,
): string | undefined {
  if (expected === undefined || expected === defined) return undefined;
  const where = file ?? `the actor started as '${expected}'`;
  return `${where} defines actor '${defined}'; rename the folder or the actor (an actor's folder name is its name)`;
}

/**
 * The direct listener the environment asks for: TROUPE_DIRECT_LISTEN (`off`, or `host:port`;
 * unset: on 127.0.0.1 with a free port when the definition says `direct: true`),
 * TROUPE_DIRECT_ADVERTISE, and TROUPE_DIRECT_CERT + TROUPE_DIRECT_KEY (PEM files: TLS).
 */
function directFromEnv(wanted: boolean): ServeActorOptions["direct"] {
  const listen = readEnv("TROUPE_DIRECT_LISTEN");
  if (listen === "off" || ((listen === undefined || listen === "") && !wanted)) return false;
  const at = listen === undefined || listen === "" ? undefined : parseDirectAddress(listen);
  if (listen !== undefined && listen !== "" && (at === undefined || at.tls)) {
    throw new Error(`TROUPE_DIRECT_LISTEN must be host:port or off, not "${listen}"`);
  }
  const advertise = readEnv("TROUPE_DIRECT_ADVERTISE");
  if (advertise !== undefined && (parseDirectAddress(advertise)?.tls ?? true)) {
    throw new Error(`TROUPE_DIRECT_ADVERTISE must be host:port, not "${advertise}"`);
  }
  const certFile = readEnv("TROUPE_DIRECT_CERT");
  const keyFile = readEnv("TROUPE_DIRECT_KEY");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new Error("TROUPE_DIRECT_CERT and TROUPE_DIRECT_KEY go together: the certificate and its key");
  }
  let tls: { certPem: string; keyPem: string } | undefined;
  if (certFile !== undefined && keyFile !== undefined) {
    const certPem = readTextFile(certFile);
    const keyPem = readTextFile(keyFile);
    if (certPem === undefined) throw new Error(`cannot read TROUPE_DIRECT_CERT file ${certFile}`);
    if (keyPem === undefined) throw new Error(`cannot read TROUPE_DIRECT_KEY file ${keyFile}`);
    tls = { certPem, keyPem };
  }
  return {
    ...(at === undefined ? {} : { host: at.host, port: at.port }),
    ...(advertise === undefined ? {} : { advertise }),
    ...(tls === undefined ? {} : { tls }),
  };
}
