/**
 * The in-process baselines' Hono app: `GET /v1/products/:id` calls the GetProduct handler
 * directly and answers with the same proto3 JSON as the gateway's REST response.
 */
import { toJson } from "@bufbuild/protobuf";
import { Hono } from "hono";
import { GetProductResponseSchema } from "../../proto/gen/shop/v1/product_pb.ts";
import { getProduct } from "./product-handler.ts";

export function productHonoApp(): Hono {
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
  return app;
}
