/**
 * The actor whose start is timed: BenchService served as a user's actor process serves it,
 * `runActor(defineActor(…))` from the public API `troupe`, configured from the environment
 * (NATS_URL, which the driver sets). It writes nothing for the driver; the driver spawns it
 * and asks `$SRV.PING.adoption-bench` until it answers (the `--subject` it passes is for the
 * bare responder, and ignored here). Self-contained on purpose (not bench/rpc's echo actor, which
 * loads the TLS helpers of the rpc driver): what it imports is what its start is measured with.
 *
 *   NATS_URL=nats://127.0.0.1:4333 <runtime> bench/adoption/peers/bench-actor.ts
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { defineActor, implement, runActor } from "troupe";
import {
  BenchService,
  type EchoRequest,
  type EchoResponseSchema,
} from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { STARTUP_ACTOR } from "../measurements.ts";

function echo(request: EchoRequest): MessageInitShape<typeof EchoResponseSchema> {
  return { payload: request.payload };
}

await runActor(
  defineActor({
    name: STARTUP_ACTOR,
    version: "0.0.0",
    description: "Echo actor whose start the adoption benchmark times",
    serves: [BenchService],
    services: () => [implement(BenchService, { echo })],
  }),
);
