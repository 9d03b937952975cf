/**
 * PLUG — the Troupe peer's client: `createClient(BenchService, createNatsTransport({ nc }))`,
 * Connect over NATS request/reply through the runtime's public entry, on a connection opened
 * exactly as the raw peers open theirs.
 *
 * The runtime is imported dynamically and checked (load-runtime-exports.ts), so that until
 * runtime/mod.ts loads and exports `createNatsTransport` the peer is "not available" and the
 * other peers still run. Once it does, this runs as written; the lead may then make the import
 * static and drop the assumed type below.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { BenchService } from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { echoRequestOfSize } from "../echo-request.ts";
import { checkEcho, type PeerClient } from "../peer-client.ts";
import { loadRuntimeExports } from "./load-runtime-exports.ts";

/** The runtime's transport factory as this benchmark calls it (DESIGN.md, ADR 0004). */
type CreateNatsTransport = (options: { nc: NatsConnection }) => Transport;

export async function connectTroupeClient(natsUrl: string): Promise<PeerClient> {
  const runtime = await loadRuntimeExports(["createNatsTransport"], "bench/rpc/peers/troupe-client.ts");
  const createNatsTransport = runtime.createNatsTransport as CreateNatsTransport;
  const nc = await connect({ servers: natsUrl });
  const client = createClient(BenchService, createNatsTransport({ nc }));
  return {
    echo(sizeBytes) {
      const { payload } = echoRequestOfSize(sizeBytes);
      return async () => {
        const response = await client.echo({ payload });
        checkEcho(payload.length, response.payload.length);
      };
    },
    close: () => nc.close(),
  };
}
