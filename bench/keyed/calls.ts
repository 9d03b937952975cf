/**
 * The calls measurement's client process: Read, then Add, on the keyed or the plain counter
 * service, each at 1 call in flight (p50, p99) and then at N in flight (calls/s, p50, p99, and
 * the CPU time per call of the instance, read from its probe, and of this process). The calls go
 * round-robin over `--keys` keys, each called once before anything is timed (on the keyed
 * service: every actor is active). Writes one "calls" line for the driver.
 *
 *   <runtime> bench/keyed/calls.ts --service keyed --nats-url nats://127.0.0.1:4333 --instance <id> \
 *     [--methods read,add] [--keys 1000] [--payload-bytes 80] [--calls 5000] [--warmup-calls 1000] \
 *     [--in-flight 64] [--seconds 3] [--warmup-seconds 1]
 */
import { parseArgs } from "node:util";
import { connect } from "troupe";
import { writeChildLine } from "../shared/child-line.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";
import type { CallsLine, MethodResult } from "./child-line.ts";
import { counterClient } from "./counter-client.ts";
import { untilEveryPartitionAnswers } from "./partition-keys.ts";
import { type CpuSample, cpuSample, probeSubject } from "./probe-subject.ts";
import { concurrent, sequential, spread } from "./timed-load.ts";

const { values } = parseArgs({
  options: {
    service: { type: "string", default: "keyed" },
    methods: { type: "string", default: "read,add" },
    "nats-url": { type: "string" },
    instance: { type: "string" },
    keys: { type: "string", default: "1000" },
    "payload-bytes": { type: "string", default: "80" },
    calls: { type: "string", default: "5000" },
    "warmup-calls": { type: "string", default: "1000" },
    "in-flight": { type: "string", default: "64" },
    seconds: { type: "string", default: "3" },
    "warmup-seconds": { type: "string", default: "1" },
  },
});
const natsUrl = values["nats-url"];
const instance = values.instance;
if (natsUrl === undefined || instance === undefined)
  throw new Error("--nats-url and --instance are required");
const service = values.service === "plain" ? "plain" : "keyed";

const nc = await connect({ servers: natsUrl });
const client = counterClient(nc, service, Number(values["payload-bytes"]));
if (service === "keyed") await untilEveryPartitionAnswers(client);

const keys = Array.from({ length: Number(values.keys) }, (_, i) => `k-${i}`);
const keyOf = (i: number) => keys[i % keys.length] as string;
// Every key called once before anything is timed: on the keyed service, every actor is active.
await spread((i) => client.read(keyOf(i)), keys.length, Number(values["in-flight"]));
const methods: MethodResult[] = [];
const asked = values.methods.split(",");
for (const method of (["read", "add"] as const).filter((m) => asked.includes(m))) {
  const call = (i: number) => client[method](keyOf(i));
  const latency = await sequential(call, Number(values["warmup-calls"]), Number(values.calls));
  const instanceBefore = await instanceCpu();
  const clientBefore = cpuSample();
  const { allCalls, ...load } = await concurrent(
    call,
    Number(values["in-flight"]),
    Number(values["warmup-seconds"]),
    Number(values.seconds),
  );
  const clientAfter = cpuSample();
  const instanceAfter = await instanceCpu();
  methods.push({
    method,
    sequential: latency,
    concurrent: load,
    instanceCpuUsPerCall: (instanceAfter.cpuUs - instanceBefore.cpuUs) / allCalls,
    clientCpuUsPerCall: (clientAfter.cpuUs - clientBefore.cpuUs) / allCalls,
  });
}
await nc.close();
writeChildLine({ kind: "calls", runtime: runtimeLabel(), methods } satisfies CallsLine);
process.exit(0);

async function instanceCpu(): Promise<CpuSample> {
  return (await nc.request(probeSubject(instance as string, "cpu"), undefined, { timeout: 5_000 })).json();
}
