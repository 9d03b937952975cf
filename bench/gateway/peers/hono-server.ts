/**
 * The in-process baseline: the same GetProduct handler called directly from a Hono route
 * `GET /v1/products/:id`, answered with the same proto3 JSON as the gateway's REST response,
 * on the same HTTP server the gateway uses (runtime/platform/http2-server.ts: one port sniffed
 * for HTTP/1.1 or h2c, node:http behind it) on the same runtime. No NATS, no gateway middleware.
 */
import { toJson } from "@bufbuild/protobuf";
import { Hono } from "hono";
import { GetProductResponseSchema } from "../../../proto/gen/shop/v1/product_pb.ts";
import { serveHttp } from "../../../runtime/platform/http2-server.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { getProduct } from "../product-handler.ts";

await servePeer(async () => {
  const app = new Hono();
  app.get("/v1/products/:id", (c) => {
    try {
      const response = getProduct({ id: c.req.param("id") });
      return c.body(JSON.stringify(toJson(GetProductResponseSchema, response)), 200, {
        "content-type": "application/json",
      });
    } catch {
      return c.json({ code: "not_found", message: "not found" }, 404);
    }
  });
  const server = await serveHttp({
    fetch: async (request) => app.fetch(request),
    port: 0,
    hostname: "127.0.0.1",
  });
  return { target: server.url, close: () => server.close(0) };
});
