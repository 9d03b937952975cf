/**
 * The gateway on one port: the Hono app for HTTP/1.1 and h2c, native gRPC through
 * connect-node (runtime/platform/http2-server.ts), and a `$SRV` identity named `gateway` with no
 * RPC endpoints, so `nats micro ls` and Troupe's discovery list every process of the system.
 * With `adminPort`, a second listener serves the admin handler (`/metrics`) on `adminHostname`,
 * 127.0.0.1 unless chosen otherwise (docs/adr/0025-metrics-for-every-part.md); bound anywhere
 * else it needs an admin token. With `tls`, the public port serves HTTPS with ALPN (h2 and
 * HTTP/1.1) instead of h2c (docs/guide/tls.md); the admin listener stays cleartext on loopback.
 * The public port cuts off slow, idle and oversized clients (`limits`,
 * docs/adr/0029-a-hardened-edge.md).
 */
import { createContextValues } from "@connectrpc/connect";
import { ServiceMetadata } from "../discovery/metadata-keys.ts";
import { type ServiceResponder, startServiceResponder } from "../discovery/service-responder.ts";
import { afterIo } from "../platform/after-io.ts";
import type { HttpLimits } from "../platform/connection-guard.ts";
import { type HttpServer, type HttpTlsOptions, serveHttp } from "../platform/http2-server.ts";
import { TROUPE_VERSION } from "../version.ts";
import { createGateway, type Gateway } from "./create-gateway.ts";
import type { GatewayInit } from "./gateway-options.ts";

export interface ServeGatewayOptions {
  readonly port: number;
  readonly hostname: string;
  /** Answer `$SRV` discovery as the service `gateway`. */
  readonly discovery: boolean;
  /** Reported in discovery metadata: the JavaScript runtime and the host name. */
  readonly runtime: string;
  readonly host: string;
  /** The admin listener's port (`/metrics`; 0: a free one); undefined: no admin listener. */
  readonly adminPort: number | undefined;
  /**
   * Where the admin listener binds: loopback, so that only the machine itself reaches it. Any
   * other address needs the gateway's `adminToken`, or serveGateway refuses to start.
   */
  readonly adminHostname: string;
  /**
   * Timeouts and sizes of the public port against slow, idle and oversized clients
   * (`defaultHttpLimits`: a request head within 10 s, a body within 60 s, an idle HTTP/2
   * connection closed after 60 s, 16 KiB and 100 header fields, 100 streams per connection).
   */
  readonly limits: Partial<HttpLimits>;
  /** HTTPS on the public port from these certificate files; undefined: cleartext h2c and HTTP/1.1. */
  readonly tls: HttpTlsOptions | undefined;
}

export const defaultServeGatewayOptions: ServeGatewayOptions = {
  port: 8080,
  hostname: "0.0.0.0",
  discovery: true,
  runtime: "",
  host: "",
  adminPort: undefined,
  adminHostname: "127.0.0.1",
  limits: {},
  tls: undefined,
};

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly server: HttpServer;
  /** `http://127.0.0.1:<port>` when listening on every interface (`https://` with TLS). */
  readonly url: string;
  readonly responder: ServiceResponder | undefined;
  /** The admin listener, when `adminPort` was given. */
  readonly admin: HttpServer | undefined;
  /** Where `/metrics` is: `<admin url>/metrics`; undefined without an admin listener. */
  readonly metricsUrl: string | undefined;
  /** Leaves discovery, then lets open requests finish within `graceMs` and closes the ports. */
  stop(graceMs?: number): Promise<void>;
}

export const GATEWAY_SERVICE_NAME = "gateway";

/** `localhost`, 127.0.0.0/8 or ::1: reachable from this machine only. */
function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/** The admin listener's port in runGateway and `troupe dev` (the usual one of Prometheus exporters). */
export const DEFAULT_ADMIN_PORT = 9464;

export async function serveGateway(
  init: GatewayInit,
  partial: Partial<ServeGatewayOptions> = {},
): Promise<RunningGateway> {
  const options: ServeGatewayOptions = { ...defaultServeGatewayOptions, ...partial };
  // Forwarded requests of one I/O phase go out in one write (unless the caller chose otherwise).
  const gateway = await createGateway({ coalesceRequests: afterIo, ...init });
  if (
    options.adminPort !== undefined &&
    gateway.options.adminToken === undefined &&
    !isLoopback(options.adminHostname)
  ) {
    throw new Error(
      `the admin listener on ${options.adminHostname} would serve /metrics to other machines without a token: set an admin token (GATEWAY_ADMIN_TOKEN) or bind it to 127.0.0.1`,
    );
  }
  const server = await serveHttp({
    fetch: gateway.fetch,
    grpc: {
      routes: gateway.grpc.routes,
      options: gateway.grpc.options,
      paths: gateway.grpc.paths,
      contextValues: (peer) => createContextValues().set(gateway.clientInfoKey, peer),
    },
    port: options.port,
    hostname: options.hostname,
    limits: options.limits,
    streamingPaths: gateway.streamingPaths,
    tls: options.tls,
  });
  let admin: HttpServer | undefined;
  if (options.adminPort !== undefined) {
    try {
      admin = await serveHttp({
        fetch: gateway.admin,
        grpc: undefined,
        port: options.adminPort,
        hostname: options.adminHostname,
      });
    } catch (err) {
      await server.close(0);
      throw new Error(
        `the gateway's admin listener cannot listen on ${options.adminHostname}:${options.adminPort}: ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
  }
  let responder: ServiceResponder | undefined;
  if (options.discovery) {
    try {
      responder = await startServiceResponder(
        gateway.options.nc,
        {
          name: GATEWAY_SERVICE_NAME,
          version: TROUPE_VERSION,
          description: `HTTP gateway on port ${server.port}: REST, Connect, gRPC-Web and gRPC`,
          // No `troupe.services`: the gateway serves none over NATS, and /readyz counts that key.
          metadata: {
            [ServiceMetadata.runtime]: options.runtime,
            [ServiceMetadata.host]: options.host,
            [ServiceMetadata.version]: TROUPE_VERSION,
          },
        },
        { endpoints: () => [] },
      );
    } catch (err) {
      await Promise.all([server.close(0), admin?.close(0)]);
      throw err;
    }
  }
  let stopping: Promise<void> | undefined;
  return {
    gateway,
    server,
    url: server.url,
    responder,
    admin,
    metricsUrl: admin === undefined || !gateway.options.metrics ? undefined : `${admin.url}/metrics`,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        await responder?.stop();
        await Promise.all([server.close(graceMs), admin?.close(graceMs)]);
      })();
      return stopping;
    },
  };
}
