/**
 * The client process: connects one peer's client to its server, runs both workloads for each
 * payload size, and writes one "result" line for the driver.
 *
 *   <runtime> bench/rpc/client.ts --peer mux --target nats://127.0.0.1:4333 --sizes 100,4096 \
 *     --calls 5000 --warmup-calls 1000 --in-flight 64 --seconds 3 --warmup-seconds 1
 */
import { parseArgs } from "node:util";
import { writeChildLine } from "../shared/child-line.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";
import { runConcurrent, runSequential } from "../shared/workloads.ts";
import type { ResultLine, SizeResult } from "./child-line.ts";
import { isPeerName, PEERS } from "./peers.ts";

const { values } = parseArgs({
  options: {
    peer: { type: "string" },
    target: { type: "string" },
    sizes: { type: "string", default: "100,4096" },
    calls: { type: "string", default: "5000" },
    "warmup-calls": { type: "string", default: "1000" },
    "in-flight": { type: "string", default: "64" },
    seconds: { type: "string", default: "3" },
    "warmup-seconds": { type: "string", default: "1" },
  },
});
const { peer, target } = values;
if (peer === undefined || !isPeerName(peer)) throw new Error(`--peer must be one of ${Object.keys(PEERS)}`);
if (target === undefined) throw new Error("--target is required");

const client = await (await PEERS[peer].loadClient())(target);

const sizes: SizeResult[] = [];
for (const sizeBytes of values.sizes.split(",").map(Number)) {
  const call = client.echo(sizeBytes);
  const sequential = await runSequential(call, Number(values["warmup-calls"]), Number(values.calls));
  const concurrent = await runConcurrent(
    call,
    Number(values["in-flight"]),
    Number(values["warmup-seconds"]),
    Number(values.seconds),
  );
  sizes.push({
    sizeBytes,
    sequentialCalls: sequential.calls,
    p50Us: sequential.p50Us,
    p99Us: sequential.p99Us,
    concurrentCalls: concurrent.calls,
    inFlight: concurrent.inFlight,
    callsPerSecond: concurrent.callsPerSecond,
  });
}
await client.close();
writeChildLine({ kind: "result", runtime: runtimeLabel(), sizes } satisfies ResultLine);
process.exit(0);
