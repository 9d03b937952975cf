/**
 * The Connect baseline: GetProduct (the shared handler) on connect-node's `connectNodeAdapter`
 * over `node:http2` (h2c, cleartext HTTP/2) on a free loopback port, called with the Connect
 * protocol; Connect decodes each request and encodes the response, as any real server does.
 */
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ProductService } from "../../../proto/gen/shop/v1/product_pb.ts";
import { getProduct } from "../product-handler.ts";
import { servePeer } from "../serve-peer.ts";

await servePeer(async () => {
  const handler = connectNodeAdapter({ routes: (router) => router.service(ProductService, { getProduct }) });
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    target: `http://127.0.0.1:${port}`,
    // Not waiting for open sessions to end: the process exits right after.
    close: async () => {
      server.close();
    },
  };
});
