/**
 * The "direct" peer's client: what a user writes to call by address after discovery,
 * `createDirectCaller(nc, BenchService, { byAddress: true })`, each Echo through `call`. It waits
 * until the TCP connection is open, so the measured calls do not include the first few that go
 * over NATS while it opens.
 */
import { connect } from "@nats-io/transport-node";
import { createDirectCaller } from "troupe";
import { BenchService } from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { echoRequestOfSize } from "../../shared/echo-request.ts";
import { checkEcho, type PeerClient } from "../peer-client.ts";

export async function connectDirectClient(natsUrl: string): Promise<PeerClient> {
  const nc = await connect({ servers: natsUrl });
  const caller = createDirectCaller(nc, BenchService, { byAddress: true });
  const echo = (payload: Uint8Array) =>
    caller.call(BenchService.method.echo, async (client) => {
      const response = await client.echo({ payload });
      checkEcho(payload.length, response.payload.length);
    });
  const opened = performance.now() + 5_000;
  while (![...caller.channels().values()].some((c) => c.connected)) {
    if (performance.now() > opened) throw new Error("no direct connection to the echo server in 5 s");
    await echo(new Uint8Array(8));
  }
  return {
    echo(sizeBytes) {
      const { payload } = echoRequestOfSize(sizeBytes);
      return () => echo(payload);
    },
    close: async () => {
      caller.close();
      await nc.close();
    },
  };
}
