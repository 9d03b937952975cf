/**
 * PLUG — the Troupe peer's server: BenchService served by an actor through the runtime's host
 * API (`defineActor`, `implement`, `serveActor` from runtime/mod.ts), on Troupe's own subject
 * `rpc.troupe.bench.v1.BenchService.Echo`, with the same handler as the Connect server.
 *
 * The runtime is imported dynamically and checked (load-runtime-exports.ts), so that until
 * runtime/mod.ts loads and exports those names the peer is "not available" and the other peers
 * still run. The call below follows the host API as drafted in runtime/actor/ at the time of
 * writing (`HostApi` spells out the assumed shape); TO FINISH when that API settles: make the
 * import static, drop `HostApi`, and adjust the call to the final signatures.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  BenchService,
  type EchoRequest,
  type EchoResponseSchema,
} from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { serveEcho } from "../serve-echo.ts";
import { loadRuntimeExports } from "./load-runtime-exports.ts";

/** The handler: what the Connect server's does. */
function echo(request: EchoRequest): MessageInitShape<typeof EchoResponseSchema> {
  return { payload: request.payload };
}

/** The host API as this plug assumes it (see the file comment). */
interface HostApi {
  defineActor(definition: {
    name: string;
    version: string;
    description: string;
    services(): readonly unknown[];
  }): unknown;
  implement(service: typeof BenchService, implementation: { echo: typeof echo }): unknown;
  serveActor(nc: NatsConnection, actor: unknown): Promise<{ drain(graceMs: number): Promise<void> }>;
}

await serveEcho(async (natsUrl) => {
  const runtime = await loadRuntimeExports(
    ["defineActor", "implement", "serveActor"],
    "bench/rpc/peers/troupe-server.ts",
  );
  const { defineActor, implement, serveActor } = runtime as unknown as HostApi;
  const nc = await connect({ servers: natsUrl });
  const actor = defineActor({
    name: "bench",
    version: "0.0.0",
    description: "Echo server of the RPC benchmark",
    services: () => [implement(BenchService, { echo })],
  });
  const running = await serveActor(nc, actor);
  await nc.flush(); // the subscriptions are known to the server before the client starts
  return {
    target: natsUrl,
    close: async () => {
      await running.drain(1_000);
      await nc.close();
    },
  };
});
