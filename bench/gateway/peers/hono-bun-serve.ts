/**
 * hono-server.ts's route on `Bun.serve`, the server Hono's own documentation uses on Bun, instead
 * of the gateway's HTTP server: the in-process baseline at its fastest on Bun. Bun only.
 */
import { toJson } from "@bufbuild/protobuf";
import { Hono } from "hono";
import { GetProductResponseSchema } from "../../../proto/gen/shop/v1/product_pb.ts";
import { bunServe } from "../../shared/bun-serve.ts";
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
  const server = bunServe((request) => app.fetch(request));
  return { target: server.url, close: () => server.stop() };
});
