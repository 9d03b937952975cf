/**
 * A what-if peer, Bun only: the gateway's own fetch handler (`createGateway`, the same options as
 * gateway-server.ts) served by `Bun.serve` instead of the gateway's HTTP server. Troupe does not
 * offer this configuration: `Bun.serve` speaks HTTP/1.1 only, so native gRPC (h2c) could not share
 * the port, and the slow-client limits of docs/adr/0029-a-hardened-edge.md would not apply. It
 * measures what the HTTP server itself costs the gateway on Bun (bench/README.md).
 */
import { connect } from "troupe";
import { createGateway } from "troupe/gateway";
import { ProductService } from "../../../proto/gen/shop/v1/product_pb.ts";
import { afterIo } from "../../../runtime/platform/after-io.ts";
import { bunServe } from "../../shared/bun-serve.ts";
import { servePeer } from "../../shared/serve-peer.ts";

await servePeer(async (natsUrl) => {
  const nc = await connect({ servers: natsUrl, name: "gateway" });
  // As serveGateway composes it: forwarded requests of one I/O phase go out in one write.
  const gateway = await createGateway({
    nc,
    services: [ProductService],
    rateLimit: false,
    coalesceRequests: afterIo,
  });
  const server = bunServe((request, remoteAddress) => gateway.fetch(request, { remoteAddress }));
  return {
    target: server.url,
    close: async () => {
      await server.stop();
      await nc.close();
    },
  };
});
