/**
 * The gateway, runtime-neutral: a Hono app (a fetch handler) that serves Connect and gRPC-Web
 * for every fronted method, REST routes from `google.api.http`, `/healthz`, `/readyz` and
 * `/openapi.json` and `/metrics` (every instance's $SRV.STATS in Prometheus text, ADR 14), behind
 * request ids, a server span per request when tracing is on, CORS, a rate limit and a body limit; and the Connect
 * routes with gRPC enabled, for a server that can send HTTP trailers (a fetch `Response` cannot,
 * so native gRPC is served by runtime/platform/http2-server.ts through connectNodeAdapter).
 * Every call is forwarded to the actors over NATS (docs/adr/0008-gateway.md).
 */
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  cors as connectCors,
  createConnectRouter,
  createContextKey,
  type HandlerContext,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createFetchHandler } from "@connectrpc/connect/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { type RequestIdVariables, requestId } from "hono/request-id";
import { errorFields } from "../observability/logger.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "../observability/prometheus.ts";
import { traceHttpRequest } from "../observability/tracing.ts";
import { Header } from "../protocol/headers.ts";
import { createCallPolicies } from "../resilience/call-policies.ts";
import { createNatsTransport } from "../transports/nats-transport.ts";
import { createAuthenticator, hasJwtKey } from "./authenticate.ts";
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
import { publicError } from "./public-error.ts";
import { createRateLimiter, type RateLimiter } from "./rate-limiter.ts";
import { checkReadiness } from "./readiness.ts";
import { validRequestId } from "./request-id.ts";
import { createRestHandler } from "./rest-handler.ts";
import { sanitizeErrors } from "./sanitize-errors.ts";
import { openApiDocument } from "./transcoding/openapi-document.ts";

export interface Gateway {
  readonly options: GatewayOptions;
  /** The Hono app; `fetch` is its handler, usable alone (HTTP/1.1 and h2 servers, tests, benchmarks). */
  readonly app: Hono<GatewayEnv>;
  readonly fetch: (request: Request, client?: ClientInfo) => Promise<Response>;
  /** Connect routes and router options for a server with HTTP trailers (gRPC, and the others too). */
  readonly grpc: { readonly routes: (router: ConnectRouter) => void; readonly options: ConnectRouterOptions };
  /** The context key under which a gRPC server puts the caller's ClientInfo (for the rate limit). */
  readonly clientInfoKey: typeof clientInfoKey;
}

/** `c.env` is the ClientInfo the server composition passes to `fetch` (absent when called alone). */
export type GatewayEnv = { Bindings: ClientInfo; Variables: RequestIdVariables };

const clientInfoKey = createContextKey<ClientInfo>({}, { description: "troupe gateway client" });

/** Content types of Connect streaming requests: limited per message, never buffered whole. */
const STREAMING_CONTENT_TYPE = /^application\/connect\+/i;

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
  const gate = createGate({ authenticate, forwardHeaders: options.forwardHeaders });
  const transport: Transport = createNatsTransport({
    nc: options.nc,
    namespace: options.namespace,
    timeoutMs: options.timeoutMs,
    routes: options.routes,
    coalesceRequests: options.coalesceRequests,
    policies: options.policies === false ? undefined : createCallPolicies(options.policies),
  });
  const limiter = options.rateLimit === undefined ? undefined : createRateLimiter(options.rateLimit);
  const routes = forwardingRoutes(services, {
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
  };

  // Connect and gRPC-Web inside Hono: connect-es's own handlers, one fetch handler per method path.
  const router = createConnectRouter({ ...routerOptions, grpc: false, grpcWeb: true, connect: true });
  routes(router);
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
  const rpcHandlers = new Map(router.handlers.map((h) => [h.requestPath, createFetchHandler(h)]));

  const app = new Hono<GatewayEnv>();
  app.use(requestId({ headerName: Header.requestId }));
  // A server span per request, child of the caller's traceparent; a no-op without an SDK.
  app.use((c, next) =>
    traceHttpRequest(
      c.req.raw.headers,
      `${c.req.method} ${c.req.path}`,
      {
        "http.request.method": c.req.method,
        "url.path": c.req.path,
        "troupe.request_id": c.get("requestId"),
      },
      next,
    ),
  );
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
  if (options.corsOrigins.length > 0) app.use(corsFor(options.corsOrigins));

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const readiness = await checkReadiness(options.nc, services, options.readinessTimeoutMs);
    return c.json(
      { status: readiness.ready ? "ready" : "not ready", ...readiness },
      readiness.ready ? 200 : 503,
    );
  });

  if (options.metrics) {
    app.get("/metrics", async (c) =>
      c.body(await renderMetrics(options.nc), 200, { "content-type": PROMETHEUS_CONTENT_TYPE }),
    );
  }

  app.get("/openapi.json", (c) => c.body(openApi, 200, { "content-type": "application/json" }));

  if (limiter !== undefined) app.use(rateLimit(limiter));
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
    if (STREAMING_CONTENT_TYPE.test(c.req.header("content-type") ?? "")) return next();
    return limitBody(c, next);
  });

  app.on(["GET", "POST"], "*", async (c, next) => {
    const handler = rpcHandlers.get(c.req.path);
    if (handler === undefined) return next();
    // The request id travels to the forwarding implementation as a request header.
    const headers = new Headers(c.req.raw.headers);
    headers.set(Header.requestId, c.get("requestId"));
    const res = await handler(new Request(c.req.raw, { headers }));
    res.headers.set(Header.requestId, c.get("requestId"));
    return res;
  });

  app.all("*", async (c, next) => (await rest(c.req.raw, c.get("requestId"))) ?? next());

  const fetch = async (request: Request, client?: ClientInfo) => app.fetch(request, client);
  return {
    options,
    app,
    fetch,
    grpc: {
      routes,
      options: {
        ...routerOptions,
        interceptors: [grpcServerSpan, grpcRateLimit(limiter), sanitizeErrors(logger)],
      },
    },
    clientInfoKey,
  };

  function rateLimit(take: RateLimiter) {
    return async (
      c: { env: ClientInfo | undefined; get(key: "requestId"): string },
      next: () => Promise<void>,
    ) => {
      const waitMs = take(c.env?.remoteAddress ?? "unknown");
      if (waitMs === undefined) return next();
      return connectErrorResponse(tooManyRequests(options, waitMs), c.get("requestId"), undefined, {
        "retry-after": String(Math.ceil(waitMs / 1000)),
      });
    };
  }

  function grpcRateLimit(take: RateLimiter | undefined): Interceptor {
    return (next) => async (req) => {
      if (take !== undefined) {
        const waitMs = take(req.contextValues.get(clientInfoKey).remoteAddress ?? "unknown");
        if (waitMs !== undefined) throw tooManyRequests(options, waitMs);
      }
      return next(req);
    };
  }
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
  return limit === undefined ? "none" : `${limit.perSecond}/s with a burst of ${limit.burst} per client`;
}

function tooManyRequests(options: GatewayOptions, waitMs: number): ConnectError {
  return new ConnectError(
    `too many requests: the limit is ${describeLimit(options)}; retry in ${Math.ceil(waitMs / 1000)} s`,
    Code.ResourceExhausted,
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
    exposeHeaders: [...connectCors.exposedHeaders, Header.requestId, "retry-after"].map((name) =>
      name.toLowerCase(),
    ),
    maxAge: 7200,
  });
}
