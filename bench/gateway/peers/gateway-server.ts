/**
 * The gateway peer's HTTP side: Troupe's gateway (`serveGateway`, as actors/gateway/main.ts
 * runs it, with the defaults: no rate limit, no CORS, no JWT) in front of ProductService, on a
 * free loopback port. `GET /v1/products/{id}` is transcoded to GetProduct and forwarded over
 * NATS to the product-actor process.
 */
import { ProductService } from "../../../proto/gen/shop/v1/product_pb.ts";
import { serveGateway } from "../../../runtime/gateway/serve-gateway.ts";
import { connect } from "../../../runtime/mod.ts";
import { servePeer } from "../../shared/serve-peer.ts";

await servePeer(async (natsUrl) => {
  const nc = await connect({ servers: natsUrl, name: "gateway" });
  const gateway = await serveGateway(
    { nc, services: [ProductService] },
    { port: 0, hostname: "127.0.0.1", runtime: "bench", host: "localhost" },
  );
  return {
    target: gateway.url,
    close: async () => {
      await gateway.stop(0);
      await nc.close();
    },
  };
});
