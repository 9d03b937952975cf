/**
 * A process serving many instances of one actor, each as a real Troupe instance: its own NATS
 * connection and its own `serveActor` (BenchService, answering `$SRV` with its own id), so that
 * discovery meets them as it meets instances in separate processes. Writes a "ready" line
 * once every instance serves; on SIGTERM/SIGINT closes every connection and exits.
 *
 *   <runtime> bench/adoption/peers/fleet.ts --nats-url nats://127.0.0.1:4333 --instances 250
 */
import { parseArgs } from "node:util";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, defineActor, implement, serveActor, silentLogger } from "troupe";
import {
  BenchService,
  type EchoRequest,
  type EchoResponseSchema,
} from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { type ReadyLine, writeChildLine } from "../../shared/child-line.ts";
import { runtimeLabel } from "../../shared/runtime-label.ts";
import { FLEET_ACTOR } from "../measurements.ts";

/** Instances started at once: enough to start 250 in seconds, few enough not to flood the server. */
const STARTING_AT_ONCE = 10;

function echo(request: EchoRequest): MessageInitShape<typeof EchoResponseSchema> {
  return { payload: request.payload };
}

const actor = defineActor({
  name: FLEET_ACTOR,
  version: "0.0.0",
  description: "One of the instances the adoption benchmark discovers",
  serves: [BenchService],
  services: () => [implement(BenchService, { echo })],
});

const { values } = parseArgs({ options: { "nats-url": { type: "string" }, instances: { type: "string" } } });
const instances = Number(values.instances);
if (values["nats-url"] === undefined || !Number.isInteger(instances) || instances < 1) {
  throw new Error("--nats-url and --instances (a positive whole number) are required");
}
const natsUrl: string = values["nats-url"];

const connections: NatsConnection[] = [];
let next = 0;
const runtime = runtimeLabel();
async function starter(): Promise<void> {
  while (next < instances) {
    next++;
    const nc = await connect({ servers: natsUrl });
    connections.push(nc);
    await serveActor(nc, actor, { logger: silentLogger, runtime });
  }
}
await Promise.all(Array.from({ length: Math.min(STARTING_AT_ONCE, instances) }, starter));

const stop = () => {
  Promise.all(connections.map((nc) => nc.close())).then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
const ready: ReadyLine = { kind: "ready", target: `${instances} instances`, runtime };
writeChildLine(ready);
