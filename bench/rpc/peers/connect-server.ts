/**
 * Echo server for the Connect peer: BenchService on connect-node's adapter over `node:http2`
 * (h2c, cleartext HTTP/2) on a free loopback port. Connect decodes each request and encodes
 * the response, as any real server does.
 */
import { BenchService } from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { listenConnectH2c } from "../../shared/listen-connect-h2c.ts";
import { servePeer } from "../../shared/serve-peer.ts";

await servePeer(() =>
  listenConnectH2c((router) =>
    router.service(BenchService, { echo: (request) => ({ payload: request.payload }) }),
  ),
);
