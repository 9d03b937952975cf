/**
 * Echo server for the Connect peer: BenchService on connect-node's adapter over `node:http2`
 * (h2c, cleartext HTTP/2) on a free loopback port. Connect decodes each request and encodes
 * the response, as any real server does.
 */
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { BenchService } from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { serveEcho } from "../serve-echo.ts";

await serveEcho(async () => {
  const handler = connectNodeAdapter({
    routes: (router) => router.service(BenchService, { echo: (request) => ({ payload: request.payload }) }),
  });
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
