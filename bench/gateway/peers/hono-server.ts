/**
 * The in-process baseline: the same GetProduct handler called directly from a Hono route
 * `GET /v1/products/:id` (product-hono-app.ts), on the same HTTP server the gateway uses
 * (runtime/platform/http2-server.ts: one port sniffed for HTTP/1.1 or h2c, node:http behind it)
 * on the same runtime. No NATS, no gateway middleware.
 */
import { serveHttp } from "../../../runtime/platform/http2-server.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { productHonoApp } from "../product-hono-app.ts";

await servePeer(async () => {
  const app = productHonoApp();
  const server = await serveHttp({
    fetch: async (request) => app.fetch(request),
    port: 0,
    hostname: "127.0.0.1",
  });
  return { target: server.url, close: () => server.close(0) };
});
