/**
 * Baseline: a Connect client over HTTP/2 (connect-node's transport with its defaults: binary
 * protobuf, one HTTP/2 session) calling the connect-node server.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { BenchService } from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { connectEcho } from "../connect-echo.ts";
import type { PeerClient } from "../peer-client.ts";

export async function connectConnectClient(baseUrl: string): Promise<PeerClient> {
  // Our own session manager only so that close() can end the session.
  const sessionManager = new Http2SessionManager(baseUrl);
  const client = createClient(
    BenchService,
    createConnectTransport({ httpVersion: "2", baseUrl, sessionManager }),
  );
  return {
    echo: connectEcho(client),
    close: async () => sessionManager.abort(),
  };
}
