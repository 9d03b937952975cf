/**
 * The gateway peer's HTTP side: Troupe's gateway (`serveGateway`, as actors/gateway/main.ts
 * runs it, with the defaults: no CORS, no JWT; but no rate limit, since the load generator is
 * one client asking far more than the default allows) in front of ProductService, on a free
 * loopback port. `GET /v1/products/{id}` is transcoded to GetProduct and forwarded over
 * NATS to the product-actor process.
 */

import { connect } from "troupe";
import { serveGateway } from "troupe/gateway";
import { ProductService } from "../../../proto/gen/shop/v1/product_pb.ts";
import { servePeer } from "../../shared/serve-peer.ts";

await servePeer(async (natsUrl) => {
  const nc = await connect({ servers: natsUrl, name: "gateway" });
  const gateway = await serveGateway(
    { nc, services: [ProductService], rateLimit: false },
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
