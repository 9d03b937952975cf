/**
 * The discovery process: on the runtime under test, asks Troupe's discovery for every instance
 * serving BenchService (`discoverServing` from `troupe/discovery`, with its defaults: the first
 * reply awaited up to 2 s, the collection over once 300 ms pass without another, as the NATS
 * tools and `troupe ls` collect) and times it, after one warm-up discovery. For each, it also
 * times how long the last of `--instances` replies to a bare `$SRV.INFO` takes to arrive, which
 * shows how much of the figure is the wait for stragglers. Writes one "discovery" line.
 *
 *   <runtime> bench/adoption/discover.ts --nats-url nats://127.0.0.1:4333 --instances 1000 --discoveries 3
 */
import { parseArgs } from "node:util";
import { Empty, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "troupe";
import { discoverServing } from "troupe/discovery";
import { ServiceVerb, serviceVerbSubject } from "troupe/protocol";
import { BenchService } from "../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { writeChildLine } from "../shared/child-line.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";
import type { DiscoveryLine, DiscoveryRun } from "./child-line.ts";

/** How long the bare `$SRV.INFO` waits for the last reply at most. */
const LAST_REPLY_WAIT_MS = 10_000;

const { values } = parseArgs({
  options: {
    "nats-url": { type: "string" },
    instances: { type: "string" },
    discoveries: { type: "string", default: "3" },
  },
});
const natsUrl = values["nats-url"];
const instances = Number(values.instances);
const discoveries = Number(values.discoveries);
if (natsUrl === undefined || !Number.isInteger(instances) || instances < 1) {
  throw new Error("--nats-url and --instances (a positive whole number) are required");
}

/** Milliseconds until the `instances`-th reply to `$SRV.INFO`; the wait's length if fewer came. */
async function lastReplyMs(nc: NatsConnection): Promise<number> {
  const started = performance.now();
  const replies = await nc.requestMany(serviceVerbSubject(ServiceVerb.INFO), Empty, {
    strategy: "count",
    maxMessages: instances,
    maxWait: LAST_REPLY_WAIT_MS,
  });
  let last = started;
  for await (const _reply of replies) last = performance.now();
  return last - started;
}

async function discoverOnce(nc: NatsConnection): Promise<DiscoveryRun> {
  const started = performance.now();
  const found = await discoverServing(nc, BenchService);
  const discoverMs = performance.now() - started;
  return { found: found.length, discoverMs, lastReplyMs: await lastReplyMs(nc) };
}

const nc = await connect({ servers: natsUrl });
await discoverOnce(nc); // warm-up: the runtime's JIT, the connection's first large burst
const runs: DiscoveryRun[] = [];
for (let i = 0; i < discoveries; i++) runs.push(await discoverOnce(nc));
await nc.close();
const line: DiscoveryLine = { kind: "discovery", runtime: runtimeLabel(), instances, runs };
writeChildLine(line);
