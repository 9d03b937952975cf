/**
 * The gateway's options: a documented interface, its defaults, and the one function that fills
 * them in (environment variables are read in runtime/process/run-gateway.ts, never here).
 */

import type { DescService } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Logger, silentLogger } from "../observability/logger.ts";
import type { RouteTable } from "../protocol/route-record.ts";
import type { CallPoliciesInit } from "../resilience/policy-options.ts";
import type { JwtOptions } from "./authenticate.ts";
import { DEFAULT_FORWARD_HEADERS } from "./gate.ts";
import { DEFAULT_RATE_LIMIT, type RateLimit } from "./rate-limiter.ts";

/** What the gateway knows of the client behind a request (the server composition supplies it). */
export interface ClientInfo {
  /** The peer address of the connection; the rate limit's key. */
  readonly remoteAddress?: string | undefined;
}

export interface GatewayOptions {
  /** The connection the gateway forwards calls on and asks discovery with. */
  readonly nc: NatsConnection;
  /** The proto services the gateway fronts; only their public methods are reachable. */
  readonly services: readonly DescService[];
  /** Prefix of every Troupe subject (see runtime/protocol/subjects.ts). */
  readonly namespace: string;
  /** JWT verification for methods with `auth_required`; undefined when no key is configured. */
  readonly jwt: Partial<JwtOptions> | undefined;
  /** Origins allowed by CORS (`*` for any); empty: no CORS headers, browsers on other origins are refused. */
  readonly corsOrigins: readonly string[];
  /** Largest request body accepted, in bytes (per message for streams). */
  readonly bodyLimitBytes: number;
  /**
   * Requests per client and gateway instance, counted before any other work on every route;
   * `false`: no limit. A client is its peer address, or what `X-Forwarded-For` says when the peer
   * is one of `trustedProxies` (client-key.ts).
   */
  readonly rateLimit: RateLimit | false;
  /**
   * Addresses or CIDR blocks of the proxies in front of the gateway, whose `X-Forwarded-For` is
   * believed; empty (the default): the header is ignored and every proxy is one client.
   */
  readonly trustedProxies: readonly string[];
  /** Deadline of a unary call whose caller sets none. */
  readonly timeoutMs: number;
  /** Deadline of a stream whose caller sets none. */
  readonly streamTimeoutMs: number;
  /** Longest deadline a caller may ask for; a longer one is refused (`invalid_argument`), as Connect servers do. */
  readonly maxTimeoutMs: number;
  /**
   * The forwarding transport's weighted version routing (a route store's `watchRoutes()`, ADR 12):
   * a canary split applies to outside calls as to calls between actors. Undefined: any instance.
   */
  readonly routes: RouteTable | undefined;
  /**
   * Resilience policies of forwarded calls (ADR 11): retries of idempotent methods on another
   * instance, the breaker and the budget, as for calls between actors; `false` for none.
   */
  readonly policies: CallPoliciesInit | false;
  /**
   * Publish forwarded requests from this scheduler (nats-transport.ts `coalesceRequests`): the
   * calls of many HTTP requests share one socket write. serveGateway passes the platform's
   * after-I/O scheduler; undefined (the Hono app alone): each call is published at once.
   */
  readonly coalesceRequests: ((flush: () => void) => void) | undefined;
  /** Caller headers forwarded to actors besides the request id (lower case). */
  readonly forwardHeaders: readonly string[];
  /**
   * The nkey seed (`SU…`, the gateway's NATS user's) that signs the identity forwarded to actors,
   * which verify it with its public key (docs/adr/0030-credentials-from-declarations.md);
   * undefined: identities go unsigned (actors that verify refuse them).
   */
  readonly identitySeed: string | undefined;
  /** How long `/readyz` waits for discovery answers. */
  readonly readinessTimeoutMs: number;
  /**
   * Serve `/metrics` on the admin handler (`Gateway.admin`, never the public one): every
   * instance's $SRV.STATS in the Prometheus text format (docs/adr/0025-metrics-for-every-part.md).
   */
  readonly metrics: boolean;
  /**
   * A bearer token the admin handler requires (`Authorization: Bearer <token>`), for an admin
   * listener reachable from other machines; undefined: none (serveGateway then binds the admin
   * listener to a loopback address only).
   */
  readonly adminToken: string | undefined;
  /**
   * Answer gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) on the gRPC port, so
   * grpcurl, `buf curl` and Postman find the methods without .proto files. It tells only what is
   * public already: the services with a public method, their public methods, and the files they
   * import (docs/adr/0021-grpc-server-reflection.md). `false`: `unimplemented`.
   */
  readonly reflection: boolean;
  /**
   * How long a rendered `/metrics` page is served again before discovery is asked anew; scrapes
   * that arrive while a page is rendered share it. 0: every scrape that finds none in flight asks.
   */
  readonly metricsCacheMs: number;
  /** Title and version of the OpenAPI document. */
  readonly apiTitle: string;
  readonly apiVersion: string;
  readonly logger: Logger;
}

export const defaultGatewayOptions: Omit<GatewayOptions, "nc" | "services"> = {
  namespace: "",
  jwt: undefined,
  corsOrigins: [],
  bodyLimitBytes: 1024 * 1024,
  rateLimit: DEFAULT_RATE_LIMIT,
  trustedProxies: [],
  timeoutMs: 10_000,
  streamTimeoutMs: 300_000,
  maxTimeoutMs: 600_000,
  routes: undefined,
  policies: {},
  coalesceRequests: undefined,
  forwardHeaders: DEFAULT_FORWARD_HEADERS,
  identitySeed: undefined,
  readinessTimeoutMs: 1_000,
  metrics: true,
  adminToken: undefined,
  reflection: true,
  metricsCacheMs: 5_000,
  apiTitle: "Troupe gateway",
  apiVersion: "1.0.0",
  logger: silentLogger,
};

export type GatewayInit = Partial<GatewayOptions> & Pick<GatewayOptions, "nc" | "services">;

export function resolveGatewayOptions(init: GatewayInit): GatewayOptions {
  const options: GatewayOptions = { ...defaultGatewayOptions, ...init };
  for (const [name, value] of [
    ["bodyLimitBytes", options.bodyLimitBytes],
    ["timeoutMs", options.timeoutMs],
    ["streamTimeoutMs", options.streamTimeoutMs],
    ["maxTimeoutMs", options.maxTimeoutMs],
  ] as const) {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new Error(`gateway: ${name} must be a positive integer, got ${value}`);
  }
  if (options.adminToken !== undefined && options.adminToken.trim().length < 16)
    throw new Error("gateway: adminToken must be at least 16 characters (a random secret)");
  if (!Number.isSafeInteger(options.metricsCacheMs) || options.metricsCacheMs < 0)
    throw new Error(
      `gateway: metricsCacheMs must be a whole number of milliseconds, got ${options.metricsCacheMs}`,
    );
  return options;
}
