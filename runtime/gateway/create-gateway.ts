/**
 * The gateway, runtime-neutral: a Hono app (a fetch handler) that serves Connect and gRPC-Web
 * for every fronted method, REST routes from `google.api.http`, `/healthz`, `/readyz` and
 * `/openapi.json`, behind request ids, the rate limit (before any other work), CORS, a server
 * span per request when tracing is on, and a body limit; and the Connect routes with gRPC
 * enabled, for a server that can send HTTP trailers (a fetch `Response` cannot, so native gRPC
 * is served by runtime/platform/http2-server.ts through connectNodeAdapter), whose request gate
 * counts the rate limit before a request body is read. Every call is forwarded to the actors
 * over NATS (docs/adr/0008-gateway.md, docs/adr/0029-a-hardened-edge.md). `/metrics` (every
 * instance's $SRV.STATS in Prometheus text, ADR 14) is on a second handler, `admin`, which
 * serveGateway puts on its own loopback port: what the system does is not for the public
 * (docs/adr/0025-metrics-for-every-part.md).
 */
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextKey,
  cors as connectCors,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  type UniversalHandler,
  universalServerRequestFromFetch,
  universalServerResponseToFetch,
} from "@connectrpc/connect/protocol";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { type RequestIdVariables, requestId } from "hono/request-id";
import { errorFields } from "../observability/logger.ts";
import { traceHttpRequest, traceResponseOfActiveSpan } from "../observability/tracing.ts";
import { Header } from "../protocol/headers.ts";
import { createCallPolicies } from "../resilience/call-policies.ts";
import { createIdentitySigner } from "../security/identity-signature.ts";
import { createNatsTransport } from "../transports/nats-transport.ts";
import { createAuthenticator, hasJwtKey } from "./authenticate.ts";
import { createClientKey } from "./client-key.ts";
import { connectErrorResponse } from "./error-response.ts";
import { forwardingRoutes } from "./forwarding-routes.ts";
import { createGate, DEFAULT_FORWARD_HEADERS, type Gate } from "./gate.ts";
import {
  type ClientInfo,
  type GatewayInit,
  type GatewayOptions,
  resolveGatewayOptions,
} from "./gateway-options.ts";
import { methodExposure, methodPath } from "./method-exposure.ts";
import { cachedMetrics } from "./metrics-cache.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./prometheus.ts";
import { publicError } from "./public-error.ts";
import { createRateLimiter, type RateLimiter } from "./rate-limiter.ts";
import { checkReadiness } from "./readiness.ts";
import { validRequestId } from "./request-id.ts";
import { createRestHandler } from "./rest-handler.ts";
import { sanitizeErrors } from "./sanitize-errors.ts";
import { REFLECTION_PATHS, reflectionRoutes } from "./server-reflection.ts";
import { openApiDocument } from "./transcoding/openapi-document.ts";

export interface Gateway {
  readonly options: GatewayOptions;
  /** The Hono app; `fetch` is its handler, usable alone (HTTP/1.1 and h2 servers, tests, benchmarks). */
  readonly app: Hono<GatewayEnv>;
  readonly fetch: (request: Request, client?: ClientInfo) => Promise<Response>;
  /**
   * Connect routes and router options for a server with HTTP trailers (gRPC, and the others too),
   * with gRPC server reflection unless `reflection` is off. `paths`: what that server should
   * answer in every protocol, not only gRPC: reflection's bidi streams, which the fetch handler
   * cannot serve (Connect's bidi over HTTP/2, as `buf curl` speaks by default).
   */
  readonly grpc: {
    readonly routes: (router: ConnectRouter) => void;
    readonly options: ConnectRouterOptions;
    readonly paths: readonly string[];
  };
  /** The context key under which a gRPC server puts the caller's ClientInfo (for the rate limit). */
  readonly clientInfoKey: typeof clientInfoKey;
  /**
   * Request paths whose body lasts as long as the call: the public client-streaming and bidi
   * methods, and reflection. A server must not time their bodies out (http2-server.ts).
   */
  readonly streamingPaths: readonly string[];
  /**
   * The admin handler: `/metrics` (unless `metrics` is off), 404 for anything else. Serve it where
   * only operators reach it (serveGateway: its own port on 127.0.0.1), never on the public port.
   */
  readonly admin: (request: Request) => Promise<Response>;
}

/**
 * `c.env` is the ClientInfo the server composition passes to `fetch` (absent when called alone);
 * `rateLimitedMs` is set on an RPC the rate limit refused, for its handler to answer in its protocol.
 */
export type GatewayEnv = {
  Bindings: ClientInfo;
  Variables: RequestIdVariables & { rateLimitedMs: number | undefined };
};

// Typed explicitly: JSR (jsr.json) wants every symbol of the public API typed without inference.
const clientInfoKey: ContextKey<ClientInfo> = createContextKey<ClientInfo>(
  {},
  { description: "troupe gateway client" },
);

/** Set by Hono's rate limit on an RPC it refused: the wait, for the handler's request gate. */
const rateLimitedKey = createContextKey<number | undefined>(undefined, {
  description: "troupe gateway rate limited",
});

/**
 * Content types of streaming requests, limited per message and never buffered whole: Connect
 * streams, and gRPC (which reaches Hono only for an unknown path, to be answered 404: its body
 * may never end, and hono/body-limit would wait for the end of a body without a length).
 */
const STREAMING_CONTENT_TYPE = /^application\/(?:connect\+|grpc(?:\+|;|$))/i;

export async function createGateway(init: GatewayInit): Promise<Gateway> {
  const options = resolveGatewayOptions(init);
  const { logger, services } = options;
  const authRequired = services.flatMap((s) => s.methods).filter((m) => methodExposure(m).authRequired);
  if (authRequired.length > 0 && (options.jwt === undefined || !hasJwtKey(options.jwt))) {
    throw new Error(
      `the gateway needs a JWT key (jwksUrl, jwks or publicKey): ${authRequired.map(methodPath).join(", ")} require authentication`,
    );
  }
  const authenticate =
    options.jwt !== undefined && hasJwtKey(options.jwt) ? await createAuthenticator(options.jwt) : undefined;
  const gate = createGate({
    authenticate,
    forwardHeaders: options.forwardHeaders,
    signIdentity: options.identitySeed === undefined ? undefined : createIdentitySigner(options.identitySeed),
  });
  const transport: Transport = createNatsTransport({
    nc: options.nc,
    namespace: options.namespace,
    timeoutMs: options.timeoutMs,
    routes: options.routes,
    coalesceRequests: options.coalesceRequests,
    policies: options.policies === false ? undefined : createCallPolicies(options.policies),
  });
  const limiter = options.rateLimit === false ? undefined : createRateLimiter(options.rateLimit);
  const clientKey = createClientKey(options.trustedProxies);
  const forwarding = forwardingRoutes(services, {
    transport,
    gate,
    timeoutMs: options.timeoutMs,
    streamTimeoutMs: options.streamTimeoutMs,
    requestIdOf: (ctx: HandlerContext) =>
      validRequestId(ctx.requestHeader.get(Header.requestId)) ?? crypto.randomUUID(),
  });
  const routerOptions: ConnectRouterOptions = {
    readMaxBytes: options.bodyLimitBytes,
    maxTimeoutMs: options.maxTimeoutMs,
    interceptors: [sanitizeErrors(logger)],
    // Inside Hono the rate limit has been counted already; a refusal is answered here, in the
    // request's protocol (a Connect or gRPC-Web client reads its code from the body or trailers).
    requestGate: async (ctx) => {
      const waitMs = ctx.values.get(rateLimitedKey);
      if (waitMs !== undefined) throw tooManyRequests(options, waitMs, { "retry-after": retryAfter(waitMs) });
      await forwarding.requestGate(ctx);
    },
  };

  // Connect and gRPC-Web inside Hono: connect-es's own handlers, one fetch handler per method path.
  const router = createConnectRouter({ ...routerOptions, grpc: false, grpcWeb: true, connect: true });
  forwarding.routes(router);
  const rest = createRestHandler({
    services,
    transport,
    gate,
    timeoutMs: options.timeoutMs,
    maxTimeoutMs: options.maxTimeoutMs,
    logger,
  });
  const openApi = JSON.stringify(
    openApiDocument(services, { title: options.apiTitle, version: options.apiVersion, onlyPublic: true }),
  );
  const rpcHandlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));

  const app = new Hono<GatewayEnv>();
  app.use(requestId({ headerName: Header.requestId }));
  app.onError((err, c) => {
    const { error, hidden } = publicError(err);
    if (hidden)
      logger.log("error", "gateway request failed", { requestId: c.get("requestId"), ...errorFields(err) });
    return connectErrorResponse(error, c.get("requestId"));
  });
  app.notFound((c) =>
    connectErrorResponse(
      new ConnectError(`no route for ${c.req.method} ${c.req.path}`, Code.NotFound),
      c.get("requestId"),
    ),
  );
  // CORS first, so that a refusal below still carries the headers a browser needs to read it;
  // a preflight is answered here from constants, before the rate limit, at the cost of a 429.
  if (options.corsOrigins.length > 0) app.use(corsFor(options.corsOrigins));
  // Every other request is counted before any work: health, OpenAPI, RPCs, REST and 404s alike.
  if (limiter !== undefined) app.use(rateLimit(limiter));
  // A server span per request, child of the caller's traceparent; a no-op without an SDK. The
  // response names the trace (`traceresponse`), so a caller can find it on the dashboard.
  app.use((c, next) =>
    traceHttpRequest(
      c.req.raw.headers,
      `${c.req.method} ${c.req.path}`,
      {
        "http.request.method": c.req.method,
        "url.path": c.req.path,
        "troupe.request_id": c.get("requestId"),
      },
      async () => {
        await next();
        const traceResponse = traceResponseOfActiveSpan();
        if (traceResponse !== undefined) c.header(Header.traceresponse, traceResponse);
      },
    ),
  );

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const readiness = await checkReadiness(options.nc, services, options.readinessTimeoutMs);
    return c.json(
      { status: readiness.ready ? "ready" : "not ready", ...readiness },
      readiness.ready ? 200 : 503,
    );
  });

  app.get("/openapi.json", (c) => c.body(openApi, 200, { "content-type": "application/json" }));

  const limitBody = bodyLimit({
    maxSize: options.bodyLimitBytes,
    onError: (c) =>
      connectErrorResponse(
        new ConnectError(
          `the request body exceeds the gateway's limit of ${options.bodyLimitBytes} bytes`,
          Code.ResourceExhausted,
        ),
        c.get("requestId"),
        413,
      ),
  });
  app.use(async (c, next) => {
    if (
      c.get("rateLimitedMs") !== undefined ||
      STREAMING_CONTENT_TYPE.test(c.req.header("content-type") ?? "")
    )
      return next();
    return limitBody(c, next);
  });

  app.on(["GET", "POST"], "*", async (c, next) => {
    const handler = rpcHandlers.get(c.req.path);
    if (handler === undefined) return next();
    // The request id travels to the forwarding implementation as a request header.
    const headers = new Headers(c.req.raw.headers);
    headers.set(Header.requestId, c.get("requestId"));
    const contextValues = createContextValues().set(rateLimitedKey, c.get("rateLimitedMs"));
    const res = universalServerResponseToFetch(
      await handler({
        ...universalServerRequestFromFetch(new Request(c.req.raw, { headers }), {}),
        contextValues,
      }),
    );
    res.headers.set(Header.requestId, c.get("requestId"));
    return res;
  });

  app.all("*", async (c, next) => (await rest(c.req.raw, c.get("requestId"))) ?? next());

  const fetch = async (request: Request, client?: ClientInfo) => app.fetch(request, client);
  const reflection = options.reflection ? reflectionRoutes(services) : undefined;
  const admin = adminHandler(options);
  const streamingPaths = [
    ...services
      .flatMap((service) => service.methods)
      .filter(
        (m) =>
          methodExposure(m).public &&
          (m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming"),
      )
      .map((m) => `/${m.parent.typeName}/${m.name}`),
    ...(reflection === undefined ? [] : REFLECTION_PATHS),
  ];
  return {
    admin,
    options,
    app,
    fetch,
    grpc: {
      routes: (router) => {
        forwarding.routes(router);
        reflection?.(router);
      },
      paths: reflection === undefined ? [] : REFLECTION_PATHS,
      options: {
        ...routerOptions,
        interceptors: [grpcServerSpan, sanitizeErrors(logger)],
        // Before the body is read: the rate limit, then the gate (reflection passes the gate).
        requestGate: async (ctx) => {
          if (limiter !== undefined) {
            const waitMs = limiter(
              clientKey(ctx.values.get(clientInfoKey).remoteAddress, ctx.requestHeader.get(FORWARDED_FOR)),
            );
            // Error metadata: gRPC sends it in the trailers, where clients read a status's metadata.
            if (waitMs !== undefined)
              throw tooManyRequests(options, waitMs, { "retry-after": retryAfter(waitMs) });
          }
          await forwarding.requestGate(ctx);
        },
      },
    },
    clientInfoKey,
    streamingPaths,
  };

  function rateLimit(take: RateLimiter) {
    return async (c: Context<GatewayEnv>, next: () => Promise<void>) => {
      const waitMs = take(clientKey(c.env?.remoteAddress, c.req.header(FORWARDED_FOR) ?? null));
      if (waitMs === undefined) return next();
      // An RPC is refused by its handler, before its body is read, in its own protocol.
      if (rpcHandlers.has(c.req.path) && (c.req.method === "POST" || c.req.method === "GET")) {
        c.set("rateLimitedMs", waitMs);
        return next();
      }
      return connectErrorResponse(tooManyRequests(options, waitMs), c.get("requestId"), undefined, {
        "retry-after": retryAfter(waitMs),
      });
    };
  }
}

const FORWARDED_FOR = "x-forwarded-for";

/** `Retry-After` in whole seconds (RFC 9110 §10.2.3), at least 1. */
function retryAfter(waitMs: number): string {
  return String(Math.max(1, Math.ceil(waitMs / 1000)));
}

/** `GET /metrics`, cached (metrics-cache.ts), behind `adminToken` when one is set; 404 for the rest. */
function adminHandler(options: GatewayOptions): (request: Request) => Promise<Response> {
  const app = new Hono();
  const token = options.adminToken;
  if (token !== undefined) {
    app.use(async (c, next) => {
      if (await sameSecret(c.req.header(Header.authorization) ?? "", `Bearer ${token}`)) return next();
      return c.text("the admin listener needs Authorization: Bearer <admin token>", 401, {
        "www-authenticate": 'Bearer realm="troupe gateway admin"',
      });
    });
  }
  if (options.metrics) {
    const page = cachedMetrics(() => renderMetrics(options.nc), { ttlMs: options.metricsCacheMs });
    app.get("/metrics", async (c) => c.body(await page(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE }));
  }
  app.notFound((c) => c.text(`no route for ${c.req.method} ${c.req.path}`, 404));
  app.onError((err, c) => {
    options.logger.log("error", "gateway admin request failed", errorFields(err));
    return c.text("cannot render the page; see the gateway's log", 500);
  });
  return async (request) => app.fetch(request);
}

/**
 * Compares a presented secret with the expected one in time that does not depend on where they
 * differ: both are hashed first (SHA-256, Web Crypto), and the digests compared byte by byte.
 */
async function sameSecret(presented: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all(
    [presented, expected].map(
      async (text) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))),
    ),
  );
  let diff = 0;
  for (let i = 0; i < (a as Uint8Array).length; i++)
    diff |= ((a as Uint8Array)[i] as number) ^ ((b as Uint8Array)[i] as number);
  return diff === 0;
}

/** Native gRPC requests bypass Hono: their server span starts here. */
const grpcServerSpan: Interceptor = (next) => (req) =>
  traceHttpRequest(
    req.header,
    `POST /${req.service.typeName}/${req.method.name}`,
    { "http.request.method": "POST", "rpc.system": "grpc" },
    () => next(req),
  );

export type { Gate };

function describeLimit(options: GatewayOptions): string {
  const limit = options.rateLimit;
  return limit === false ? "none" : `${limit.perSecond}/s with a burst of ${limit.burst} per client`;
}

function tooManyRequests(options: GatewayOptions, waitMs: number, metadata?: HeadersInit): ConnectError {
  return new ConnectError(
    `too many requests: the limit is ${describeLimit(options)}; retry in ${retryAfter(waitMs)} s`,
    Code.ResourceExhausted,
    metadata,
  );
}

function corsFor(origins: readonly string[]) {
  return cors({
    origin: origins.includes("*") ? "*" : [...origins],
    allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    // What Connect and gRPC-Web clients send and read (connect-es's own lists), plus what the
    // gateway reads or answers: the token, the request id, trace context and the version pin.
    // (connect-es spells them capitalised; lower case like every other name here.)
    allowHeaders: [
      ...connectCors.allowedHeaders,
      Header.authorization,
      Header.requestId,
      ...DEFAULT_FORWARD_HEADERS,
    ].map((name) => name.toLowerCase()),
    exposeHeaders: [...connectCors.exposedHeaders, Header.requestId, Header.traceresponse, "retry-after"].map(
      (name) => name.toLowerCase(),
    ),
    maxAge: 7200,
  });
}
