/**
 * The Connect baselines' server: connect-node's `connectNodeAdapter` over `node:http2` (h2c,
 * cleartext HTTP/2) on a free loopback port. Connect decodes each request and encodes the
 * response, as any real server does.
 */
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { RunningPeer } from "./serve-peer.ts";

export async function listenConnectH2c(routes: (router: ConnectRouter) => void): Promise<RunningPeer> {
  const server = createServer(connectNodeAdapter({ routes }));
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
}
