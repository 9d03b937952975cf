/**
 * The Troupe peer's server: BenchService served by an actor through the runtime's public API
 * (`defineActor`, `implement`, `serveActor`), on Troupe's own subject
 * `rpc.troupe.bench.v1.BenchService.Echo`, with the same handler as the Connect server.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import {
  BenchService,
  type EchoRequest,
  type EchoResponseSchema,
} from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { defineActor, implement, serveActor, silentLogger } from "../../../runtime/mod.ts";
import { serveEcho } from "../serve-echo.ts";

/** The handler: what the Connect server's does. */
function echo(request: EchoRequest): MessageInitShape<typeof EchoResponseSchema> {
  return { payload: request.payload };
}

await serveEcho(async (natsUrl) => {
  const nc = await connect({ servers: natsUrl });
  const actor = defineActor({
    name: "bench",
    version: "0.0.0",
    description: "Echo server of the RPC benchmark",
    services: () => [implement(BenchService, { echo })],
  });
  const running = await serveActor(nc, actor, { logger: silentLogger });
  return {
    target: natsUrl,
    close: async () => {
      await running.drain(1_000);
      await nc.close();
    },
  };
});
