/**
 * The Troupe peer's client: `createClient(BenchService, createNatsTransport({ nc }))`, Connect
 * over NATS request/reply through the runtime's public entry, on a connection opened exactly as
 * the raw peers open theirs (plus TLS for the "tls" peer, whose server URL is `tls://`).
 */
import { createClient } from "@connectrpc/connect";
import { connect } from "@nats-io/transport-node";
import { createNatsTransport } from "troupe";
import { BenchService } from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { natsTlsOptions } from "../../shared/nats-tls.ts";
import { connectEcho } from "../connect-echo.ts";
import type { PeerClient } from "../peer-client.ts";

export async function connectTroupeClient(natsUrl: string): Promise<PeerClient> {
  const nc = await connect({ servers: natsUrl, ...natsTlsOptions(natsUrl) });
  const client = createClient(BenchService, createNatsTransport({ nc }));
  return {
    echo: connectEcho(client),
    close: () => nc.close(),
  };
}
