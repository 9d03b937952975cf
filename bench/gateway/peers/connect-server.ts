/**
 * The Connect baseline: GetProduct (the shared handler) on connect-node's `connectNodeAdapter`
 * over `node:http2` (h2c, cleartext HTTP/2) on a free loopback port, called with the Connect
 * protocol; Connect decodes each request and encodes the response, as any real server does.
 */
import { ProductService } from "../../../proto/gen/shop/v1/product_pb.ts";
import { listenConnectH2c } from "../../shared/listen-connect-h2c.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { getProduct } from "../product-handler.ts";

await servePeer(() => listenConnectH2c((router) => router.service(ProductService, { getProduct })));
