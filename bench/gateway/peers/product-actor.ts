/**
 * The actor behind the gateway peer: shop.v1.ProductService's GetProduct (the shared handler)
 * served by `defineActor`, `implement` and `serveActor` on its Troupe subject
 * `rpc.shop.v1.ProductService.GetProduct`. Its "ready" target is the NATS URL it serves on.
 */

import { implement } from "troupe";
import { ProductService } from "../../../proto/gen/shop/v1/product_pb.ts";
import { serveActorPeer } from "../../shared/serve-actor-peer.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { getProduct } from "../product-handler.ts";

await servePeer((natsUrl) =>
  serveActorPeer(natsUrl, {
    name: "product",
    description: "GetProduct for the gateway benchmark",
    serves: [ProductService],
    services: () => [implement(ProductService, { getProduct })],
  }),
);
