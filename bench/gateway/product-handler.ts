/**
 * The one handler every peer serves: GetProduct over the shop's seed catalogue, held in memory
 * (a Map, built once), so the three peers differ only in how the call reaches it. Unknown ids
 * are `not_found`, as in the product actor.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { seedProducts } from "../../actors/shared/seed-products.ts";
import {
  type GetProductRequest,
  type GetProductResponse,
  GetProductResponseSchema,
  type Product,
} from "../../proto/gen/shop/v1/product_pb.ts";

/** The id every load generator asks for. */
export const BENCH_PRODUCT_ID = "p-1001";

const catalogue = new Map<string, Product>(seedProducts().map((product) => [product.id, product]));

export function getProduct(request: Pick<GetProductRequest, "id">): GetProductResponse {
  const product = catalogue.get(request.id);
  if (product === undefined) throw new ConnectError(`product "${request.id}" not found`, Code.NotFound);
  return create(GetProductResponseSchema, { product });
}
