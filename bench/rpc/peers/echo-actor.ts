/**
 * The actor of the Troupe peers' servers: BenchService through the runtime's public API
 * (`defineActor`, `implement`), on Troupe's own subject `rpc.troupe.bench.v1.BenchService.Echo`,
 * with the same handler as the Connect server.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type ActorDefinition, implement } from "troupe";
import {
  BenchService,
  type EchoRequest,
  type EchoResponseSchema,
} from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { BENCH_USER } from "../../shared/nats-tls.ts";

/** The handler: what the Connect server's does. */
function echo(request: EchoRequest): MessageInitShape<typeof EchoResponseSchema> {
  return { payload: request.payload };
}

export const echoActor: Pick<ActorDefinition, "name" | "description" | "serves" | "services"> = {
  name: BENCH_USER,
  description: "Echo server of the RPC benchmark",
  serves: [BenchService],
  services: () => [implement(BenchService, { echo })],
};
