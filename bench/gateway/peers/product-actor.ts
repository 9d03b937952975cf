/**
 * The actor behind the gateway peer: shop.v1.ProductService's GetProduct (the shared handler)
 * served by `defineActor`, `implement` and `serveActor` on its Troupe subject
 * `rpc.shop.v1.ProductService.GetProduct`. Its "ready" target is the NATS URL it serves on.
 */
import { ProductService } from "../../../proto/gen/shop/v1/product_pb.ts";
import { connect, defineActor, implement, serveActor, silentLogger } from "../../../runtime/mod.ts";
import { getProduct } from "../product-handler.ts";
import { servePeer } from "../serve-peer.ts";

await servePeer(async (natsUrl) => {
  const nc = await connect({ servers: natsUrl });
  const actor = defineActor({
    name: "product",
    version: "0.0.0",
    description: "GetProduct for the gateway benchmark",
    services: () => [implement(ProductService, { getProduct })],
  });
  const running = await serveActor(nc, actor, { logger: silentLogger });
  return {
    target: natsUrl,
    close: async () => {
      await running.drain(1_000);
      await nc.close();
    },
  };
});
