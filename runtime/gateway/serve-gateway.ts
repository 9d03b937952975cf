/**
 * The gateway on one port: the Hono app for HTTP/1.1 and h2c, native gRPC through
 * connect-node (runtime/platform/http2-server.ts), and a `$SRV` identity named `gateway` with no
 * RPC endpoints, so `nats micro ls` and Troupe's discovery list every process of the system.
 */
import { createContextValues } from "@connectrpc/connect";
import { ServiceMetadata } from "../discovery/metadata-keys.ts";
import { type ServiceResponder, startServiceResponder } from "../discovery/service-responder.ts";
import { afterIo } from "../platform/after-io.ts";
import { type HttpServer, serveHttp } from "../platform/http2-server.ts";
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
}

export const defaultServeGatewayOptions: ServeGatewayOptions = {
  port: 8080,
  hostname: "0.0.0.0",
  discovery: true,
  runtime: "",
  host: "",
};

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly server: HttpServer;
  /** `http://127.0.0.1:<port>` when listening on every interface. */
  readonly url: string;
  readonly responder: ServiceResponder | undefined;
  /** Leaves discovery, then lets open requests finish within `graceMs` and closes the port. */
  stop(graceMs?: number): Promise<void>;
}

export const GATEWAY_SERVICE_NAME = "gateway";

export async function serveGateway(
  init: GatewayInit,
  partial: Partial<ServeGatewayOptions> = {},
): Promise<RunningGateway> {
  const options: ServeGatewayOptions = { ...defaultServeGatewayOptions, ...partial };
  // Forwarded requests of one I/O phase go out in one write (unless the caller chose otherwise).
  const gateway = await createGateway({ coalesceRequests: afterIo, ...init });
  const server = await serveHttp({
    fetch: gateway.fetch,
    grpc: {
      routes: gateway.grpc.routes,
      options: gateway.grpc.options,
      contextValues: (peer) => createContextValues().set(gateway.clientInfoKey, peer),
    },
    port: options.port,
    hostname: options.hostname,
  });
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
      await server.close(0);
      throw err;
    }
  }
  let stopping: Promise<void> | undefined;
  return {
    gateway,
    server,
    url: server.url,
    responder,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        await responder?.stop();
        await server.close(graceMs);
      })();
      return stopping;
    },
  };
}
