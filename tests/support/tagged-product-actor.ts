/**
 * A stand-in ProductService whose every answer names the instance that gave it (`product.name`
 * = its tag): for tests that must see where a call went (direct calls, version routing).
 */

import { type ActorDefinition, defineActor, implement } from "troupe";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";

export function taggedProductActor(tag: string, version = "1.0.0", name = "catalogue"): ActorDefinition {
  return defineActor({
    name,
    version,
    description: `answers as ${tag}`,
    serves: [ProductService],
    services: () => [
      implement(ProductService, {
        getProduct: (request) => ({ product: { id: request.id, name: tag } }),
        async *lookupProducts(requests) {
          for await (const request of requests) {
            yield { id: request.id, found: true, product: { id: request.id, name: tag } };
          }
        },
      }),
    ],
  });
}
