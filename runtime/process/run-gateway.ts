/**
 * The entry point of the gateway process (`actors/gateway/main.ts`, run with `bun run`,
 * `deno run -A` or `node`): reads the environment, connects to NATS, refuses a server older
 * than Troupe supports, serves the gateway on one port, and on SIGTERM/SIGINT leaves discovery,
 * lets open requests finish within the grace period, drains the connection and exits 0.
 *
 * Environment (docs/guide/configuration.md): NATS_URL, NATS_CREDS, NATS_USER + NATS_PASSWORD,
 * NATS_TOKEN, TROUPE_NAMESPACE, TROUPE_DRAIN_GRACE_MS (10000), TROUPE_LOG_LEVEL; GATEWAY_PORT
 * (8080), GATEWAY_HOST (0.0.0.0), GATEWAY_TLS_CERT + GATEWAY_TLS_KEY (PEM files: HTTPS with ALPN
 * h2 and http/1.1 instead of h2c; docs/guide/tls.md), GATEWAY_JWT_JWKS_URL or GATEWAY_JWT_PUBLIC_KEY (PEM or JWK
 * JSON), GATEWAY_JWT_ALGORITHMS (RS256,ES256,EdDSA), GATEWAY_JWT_ISSUER, GATEWAY_JWT_AUDIENCE
 * (comma-separated), GATEWAY_JWT_CLOCK_TOLERANCE_S (30), GATEWAY_CORS_ORIGINS (comma-separated,
 * `*` for any), GATEWAY_BODY_LIMIT_BYTES (1048576), GATEWAY_RATE_LIMIT (`1000/s:2000`; `100/s`,
 * `100/s:300`, `off`), GATEWAY_TRUSTED_PROXIES (comma-separated addresses or CIDR blocks whose
 * X-Forwarded-For is believed), GATEWAY_TIMEOUT_MS (10000), GATEWAY_STREAM_TIMEOUT_MS (300000),
 * GATEWAY_HEADERS_TIMEOUT_MS (10000), GATEWAY_BODY_TIMEOUT_MS (60000), GATEWAY_IDLE_TIMEOUT_MS
 * (60000), GATEWAY_MAX_HEADER_BYTES (16384), GATEWAY_MAX_HEADER_COUNT (100),
 * GATEWAY_MAX_CONCURRENT_STREAMS (100), GATEWAY_ADMIN_PORT (9464; `off`: no admin listener),
 * GATEWAY_ADMIN_HOST (127.0.0.1) and GATEWAY_ADMIN_TOKEN (required when the admin host is not a
 * loopback address) for `/metrics`, GATEWAY_METRICS_CACHE_MS (5000), GATEWAY_REFLECTION (`on`;
 * `off` turns gRPC server reflection off); without a list of services, TROUPE_CONTRACTS (the
 * folder of generated contracts, default `proto/gen`).
 */

import type { DescService } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { defaultJwtOptions, type JwtOptions } from "../gateway/authenticate.ts";
import { gatewayDeclaration } from "../gateway/gateway-declaration.ts";
import { defaultGatewayOptions } from "../gateway/gateway-options.ts";
import { publicServices } from "../gateway/method-exposure.ts";
import { parseRateLimit, type RateLimit } from "../gateway/rate-limiter.ts";
import { DEFAULT_ADMIN_PORT, type RunningGateway, serveGateway } from "../gateway/serve-gateway.ts";
import { createJsonLogger, errorFields, type LogLevel } from "../observability/logger.ts";
import { defaultHttpLimits, type HttpLimits } from "../platform/connection-guard.ts";
import { readEnv } from "../platform/env.ts";
import { readTextFile } from "../platform/files.ts";
import { hostName, runtimeInfo } from "../platform/runtime-info.ts";
import { exitProcess } from "../platform/shutdown-signals.ts";
import type { TracingSdk } from "../platform/tracing-sdk.ts";
import { TROUPE_VERSION } from "../version.ts";
import { contractsDirFromEnv, loadContracts } from "./load-contracts.ts";
import { declarationRequested, printDeclarationAndExit } from "./print-declaration.ts";
import {
  connectFromEnv,
  credsSeedFromEnv,
  drainOnSignal,
  watchRoutesFromEnv,
  wholeNumberFromEnv,
} from "./process-env.ts";
import { tracingFromEnv } from "./tracing-from-env.ts";

export interface GatewayProcess {
  readonly nc: NatsConnection;
  readonly gateway: RunningGateway;
  /** Resolves with the exit code once the process has shut down (it then exits). */
  readonly stopped: Promise<number>;
}

/**
 * Runs a gateway with the configuration of the environment, in front of `services`, or, without
 * them, of every service of the project's contracts (TROUPE_CONTRACTS) that has a public method.
 */
export async function runGateway(services?: readonly DescService[]): Promise<GatewayProcess> {
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

  const fronted = services ?? (await frontedFromContracts(fail));
  if (declarationRequested()) return printDeclarationAndExit(gatewayDeclaration(fronted, TROUPE_VERSION));

  const graceMs = number("TROUPE_DRAIN_GRACE_MS", 10_000);
  const port = number("GATEWAY_PORT", 8080);
  const adminPort =
    readEnv("GATEWAY_ADMIN_PORT") === "off" ? undefined : number("GATEWAY_ADMIN_PORT", DEFAULT_ADMIN_PORT);
  let rateLimit: RateLimit | false = defaultGatewayOptions.rateLimit;
  const rateText = readEnv("GATEWAY_RATE_LIMIT");
  try {
    if (rateText !== undefined) rateLimit = parseRateLimit(rateText);
  } catch (err) {
    fail(`GATEWAY_RATE_LIMIT: ${err instanceof Error ? err.message : String(err)}`);
  }
  const limits: HttpLimits = {
    headersTimeoutMs: number("GATEWAY_HEADERS_TIMEOUT_MS", defaultHttpLimits.headersTimeoutMs),
    bodyTimeoutMs: number("GATEWAY_BODY_TIMEOUT_MS", defaultHttpLimits.bodyTimeoutMs),
    idleTimeoutMs: number("GATEWAY_IDLE_TIMEOUT_MS", defaultHttpLimits.idleTimeoutMs),
    maxHeaderBytes: number("GATEWAY_MAX_HEADER_BYTES", defaultHttpLimits.maxHeaderBytes),
    maxHeaderCount: number("GATEWAY_MAX_HEADER_COUNT", defaultHttpLimits.maxHeaderCount),
    maxConcurrentStreams: number("GATEWAY_MAX_CONCURRENT_STREAMS", defaultHttpLimits.maxConcurrentStreams),
  };
  const reflectionText = readEnv("GATEWAY_REFLECTION") ?? "on";
  if (reflectionText !== "on" && reflectionText !== "off")
    fail(`GATEWAY_REFLECTION must be "on" or "off", got ${JSON.stringify(reflectionText)}`);
  const tlsCert = readEnv("GATEWAY_TLS_CERT");
  const tlsKey = readEnv("GATEWAY_TLS_KEY");
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    fail("GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together: the certificate file and its private key file");
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
        services: fronted,
        namespace,
        routes,
        jwt: jwt.jwksUrl === undefined && jwt.publicKey === undefined ? undefined : jwt,
        corsOrigins: list("GATEWAY_CORS_ORIGINS") ?? [],
        bodyLimitBytes: number("GATEWAY_BODY_LIMIT_BYTES", defaultGatewayOptions.bodyLimitBytes),
        rateLimit,
        trustedProxies: list("GATEWAY_TRUSTED_PROXIES") ?? [],
        adminToken: readEnv("GATEWAY_ADMIN_TOKEN"),
        timeoutMs: number("GATEWAY_TIMEOUT_MS", defaultGatewayOptions.timeoutMs),
        streamTimeoutMs: number("GATEWAY_STREAM_TIMEOUT_MS", defaultGatewayOptions.streamTimeoutMs),
        reflection: reflectionText === "on",
        // Forwarded identities are signed with the gateway's NATS user key, for actors to verify.
        identitySeed: credsSeedFromEnv(),
        metricsCacheMs: number("GATEWAY_METRICS_CACHE_MS", defaultGatewayOptions.metricsCacheMs),
        logger,
      },
      {
        port,
        hostname: readEnv("GATEWAY_HOST") ?? "0.0.0.0",
        runtime: `${runtime.name} ${runtime.version}`,
        host: hostName(),
        adminPort,
        adminHostname: readEnv("GATEWAY_ADMIN_HOST") ?? "127.0.0.1",
        limits,
        tls:
          tlsCert === undefined || tlsKey === undefined ? undefined : { certFile: tlsCert, keyFile: tlsKey },
      },
    );
  } catch (err) {
    await nc.close();
    return fail("the gateway cannot start", errorFields(err));
  }
  logger.log("info", "gateway ready", {
    url: gateway.url,
    metrics: gateway.metricsUrl ?? "off",
    services: fronted.map((s) => s.typeName),
    runtime: `${runtime.name} ${runtime.version}`,
    nats: nc.getServer(),
    rateLimit: rateLimit === false ? "off" : `${rateLimit.perSecond}/s:${rateLimit.burst}`,
    trustedProxies: list("GATEWAY_TRUSTED_PROXIES") ?? [],
    reflection: reflectionText,
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

/** The public services of the contracts folder; `fail` (which exits) when there are none. */
async function frontedFromContracts(
  fail: (message: string, fields?: Record<string, unknown>) => never,
): Promise<DescService[]> {
  const dir = contractsDirFromEnv();
  let fronted: DescService[];
  try {
    fronted = publicServices((await loadContracts(dir)).services);
  } catch (err) {
    return fail("the gateway cannot start", { ...errorFields(err), contracts: dir });
  }
  if (fronted.length === 0) {
    return fail(
      "the gateway cannot start: no service of the contracts has a public method ((troupe.v1.method) = { public: true })",
      { contracts: dir },
    );
  }
  return fronted;
}
