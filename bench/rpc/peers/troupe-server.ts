/**
 * The Troupe peer's server: BenchService served by an actor through the runtime's public API
 * (`defineActor`, `implement`, `serveActor`), on Troupe's own subject
 * `rpc.troupe.bench.v1.BenchService.Echo`, with the same handler as the Connect server.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { implement } from "troupe";
import {
  BenchService,
  type EchoRequest,
  type EchoResponseSchema,
} from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { BENCH_USER } from "../../shared/nats-tls.ts";
import { serveActorPeer } from "../../shared/serve-actor-peer.ts";
import { servePeer } from "../../shared/serve-peer.ts";

/** The handler: what the Connect server's does. */
function echo(request: EchoRequest): MessageInitShape<typeof EchoResponseSchema> {
  return { payload: request.payload };
}

await servePeer((natsUrl) =>
  serveActorPeer(natsUrl, {
    name: BENCH_USER,
    description: "Echo server of the RPC benchmark",
    serves: [BenchService],
    services: () => [implement(BenchService, { echo })],
  }),
);
