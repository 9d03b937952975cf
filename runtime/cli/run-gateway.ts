/**
 * The entry point of the gateway process (`actors/gateway/main.ts`, run with `bun run`,
 * `deno run -A` or `node`): reads the environment, connects to NATS, refuses a server older
 * than Troupe supports, serves the gateway on one port, and on SIGTERM/SIGINT leaves discovery,
 * lets open requests finish within the grace period, drains the connection and exits 0.
 *
 * Environment (README "The gateway"): NATS_URL, NATS_CREDS, NATS_USER + NATS_PASSWORD,
 * NATS_TOKEN, TROUPE_NAMESPACE, TROUPE_DRAIN_GRACE_MS (10000), TROUPE_LOG_LEVEL; GATEWAY_PORT
 * (8080), GATEWAY_HOST (0.0.0.0), GATEWAY_JWT_JWKS_URL or GATEWAY_JWT_PUBLIC_KEY (PEM or JWK
 * JSON), GATEWAY_JWT_ALGORITHMS (RS256,ES256,EdDSA), GATEWAY_JWT_ISSUER, GATEWAY_JWT_AUDIENCE
 * (comma-separated), GATEWAY_JWT_CLOCK_TOLERANCE_S (30), GATEWAY_CORS_ORIGINS (comma-separated,
 * `*` for any), GATEWAY_BODY_LIMIT_BYTES (1048576), GATEWAY_RATE_LIMIT (`100/s`, `100/s:300`;
 * unset: none), GATEWAY_TIMEOUT_MS (10000), GATEWAY_STREAM_TIMEOUT_MS (300000).
 */

import type { DescService } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { defaultJwtOptions, type JwtOptions } from "../gateway/authenticate.ts";
import { defaultGatewayOptions } from "../gateway/gateway-options.ts";
import { parseRateLimit } from "../gateway/rate-limiter.ts";
import { type RunningGateway, serveGateway } from "../gateway/serve-gateway.ts";
import { createJsonLogger, errorFields, type LogLevel } from "../observability/logger.ts";
import { readEnv } from "../platform/env.ts";
import { readTextFile } from "../platform/files.ts";
import { hostName, runtimeInfo } from "../platform/runtime-info.ts";
import { exitProcess } from "../platform/shutdown-signals.ts";
import type { TracingSdk } from "../platform/tracing-sdk.ts";
import { connectFromEnv, drainOnSignal, watchRoutesFromEnv, wholeNumberFromEnv } from "./process-env.ts";
import { tracingFromEnv } from "./tracing-from-env.ts";

export interface GatewayProcess {
  readonly nc: NatsConnection;
  readonly gateway: RunningGateway;
  /** Resolves with the exit code once the process has shut down (it then exits). */
  readonly stopped: Promise<number>;
}

/** Runs a gateway in front of `services` with the configuration of the environment. */
export async function runGateway(services: readonly DescService[]): Promise<GatewayProcess> {
  const runtime = runtimeInfo();
  const logger = createJsonLogger(
    { actor: "gateway" },
    (readEnv("TROUPE_LOG_LEVEL") as LogLevel | undefined) ?? "info",
  );
  const fail = (message: string, fields?: Record<string, unknown>): never => {
    logger.log("error", message, fields);
    return exitProcess(1);
  };

  const number = (name: string, fallback: number): number => {
    try {
      return wholeNumberFromEnv(name, fallback);
    } catch (err) {
      return fail("the gateway cannot start", errorFields(err));
    }
  };
  const list = (name: string): string[] | undefined =>
    readEnv(name)
      ?.split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");

  let tracing: TracingSdk | undefined;
  try {
    tracing = await tracingFromEnv("gateway");
  } catch (err) {
    fail("the gateway cannot start", errorFields(err));
  }

  const graceMs = number("TROUPE_DRAIN_GRACE_MS", 10_000);
  const port = number("GATEWAY_PORT", 8080);
  let rateLimit: ReturnType<typeof parseRateLimit> | undefined;
  const rateText = readEnv("GATEWAY_RATE_LIMIT");
  try {
    rateLimit = rateText === undefined ? undefined : parseRateLimit(rateText);
  } catch (err) {
    fail(`GATEWAY_RATE_LIMIT: ${err instanceof Error ? err.message : String(err)}`);
  }
  const publicKeyText = readEnv("GATEWAY_JWT_PUBLIC_KEY");
  const jwt: Partial<JwtOptions> = {
    jwksUrl: readEnv("GATEWAY_JWT_JWKS_URL"),
    // A path to a key file is read; anything else is the key itself.
    publicKey:
      publicKeyText === undefined ||
      publicKeyText.trimStart().startsWith("-----") ||
      publicKeyText.trimStart().startsWith("{")
        ? publicKeyText
        : (readTextFile(publicKeyText) ?? fail(`cannot read GATEWAY_JWT_PUBLIC_KEY file ${publicKeyText}`)),
    issuer: readEnv("GATEWAY_JWT_ISSUER"),
    audience: list("GATEWAY_JWT_AUDIENCE"),
    clockToleranceSec: number("GATEWAY_JWT_CLOCK_TOLERANCE_S", 30),
    algorithms: list("GATEWAY_JWT_ALGORITHMS") ?? defaultJwtOptions.algorithms,
  };

  let nc: NatsConnection;
  try {
    nc = await connectFromEnv("gateway");
  } catch (err) {
    return fail("the gateway cannot start", errorFields(err));
  }

  const namespace = readEnv("TROUPE_NAMESPACE") ?? "";
  const routes = await watchRoutesFromEnv(nc, namespace, logger);
  let gateway: RunningGateway;
  try {
    gateway = await serveGateway(
      {
        nc,
        services,
        namespace,
        routes,
        jwt: jwt.jwksUrl === undefined && jwt.publicKey === undefined ? undefined : jwt,
        corsOrigins: list("GATEWAY_CORS_ORIGINS") ?? [],
        bodyLimitBytes: number("GATEWAY_BODY_LIMIT_BYTES", defaultGatewayOptions.bodyLimitBytes),
        rateLimit,
        timeoutMs: number("GATEWAY_TIMEOUT_MS", defaultGatewayOptions.timeoutMs),
        streamTimeoutMs: number("GATEWAY_STREAM_TIMEOUT_MS", defaultGatewayOptions.streamTimeoutMs),
        logger,
      },
      {
        port,
        hostname: readEnv("GATEWAY_HOST") ?? "0.0.0.0",
        runtime: `${runtime.name} ${runtime.version}`,
        host: hostName(),
      },
    );
  } catch (err) {
    await nc.close();
    return fail("the gateway cannot start", errorFields(err));
  }
  logger.log("info", "gateway ready", {
    url: gateway.url,
    services: services.map((s) => s.typeName),
    runtime: `${runtime.name} ${runtime.version}`,
    nats: nc.getServer(),
    rateLimit: rateText ?? "none",
  });

  const stopped = drainOnSignal(
    logger,
    () => ({ graceMs }),
    async () => {
      await gateway.stop(graceMs);
      routes?.stop();
      await nc.drain();
      await tracing?.shutdown(); // exports the spans still buffered
    },
  );
  return { nc, gateway, stopped };
}
