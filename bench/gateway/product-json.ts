/**
 * The product handler as the JSON frameworks (Moleculer, NestJS) serve it: the shared GetProduct
 * (product-handler.ts) answered with its proto3 JSON (`toJson`), which the framework writes with
 * `JSON.stringify`, so every REST peer sends the same bytes. An unknown id is `null` here, and
 * each framework's HTTP side answers it with its own 404.
 */
import { type JsonValue, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { rpcMethodSubject } from "troupe/protocol";
import { GetProductResponseSchema, ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { getProduct } from "./product-handler.ts";

/** The route every REST peer serves. */
export const PRODUCT_ROUTE = "/v1/products/:id";

/** The Moleculer service and the action moleculer-web's route calls. */
export const MOLECULER_PRODUCTS = "products";
export const MOLECULER_PRODUCTS_GET = `${MOLECULER_PRODUCTS}.get`;

/** The message pattern of the Nest microservice: the subject Troupe's gateway calls. */
export const NEST_PRODUCT_PATTERN = rpcMethodSubject(ProductService.method.getProduct);

/** The call the HTTP side makes to the product service: the id from the route. */
export interface ProductRequest {
  readonly id: string;
}

/** The error the Nest microservice answers an unknown id with (an `RpcException`'s object). */
export const NOT_FOUND = { code: "not_found", message: "product not found" } as const;

/** GetProduct's answer as proto3 JSON; null when there is no such product. */
export function productJson(request: ProductRequest): JsonValue | null {
  try {
    return toJson(GetProductResponseSchema, getProduct(request));
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.NotFound) return null;
    throw err;
  }
}
