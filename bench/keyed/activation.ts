/**
 * The activation measurement's client process, against one keyed instance: the latency of a
 * key's first call on this instance beside a call to an active key, one call in flight.
 * 1. Warm-up: `--warmup-calls` reads and adds over 100 keys, which stay active.
 * 2. Seeding: `--calls` keys get one Add each that ends their activation (`deactivate`): their
 *    state is stored and nothing of them is active.
 * 3. `--calls` times, in turn (the order rotating, so that no kind always follows another): a
 *    Read of a key never seen (activation; the load finds no stored state), a Read of a seeded
 *    key (activation; the load finds its state), and a Read of a warm-up key (active).
 * Key names carry a prefix of this run, so that every round meets new keys on the same server.
 * Writes one "activation" line for the driver.
 *
 *   <runtime> bench/keyed/activation.ts --nats-url nats://127.0.0.1:4333 --calls 1000 \
 *     --warmup-calls 1000 --payload-bytes 80
 */
import { parseArgs } from "node:util";
import { connect } from "troupe";
import { writeChildLine } from "../shared/child-line.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";
import type { ActivationLine } from "./child-line.ts";
import { counterClient } from "./counter-client.ts";
import { untilEveryPartitionAnswers } from "./partition-keys.ts";
import { latencyOf, spread } from "./timed-load.ts";

/** Keys of the warm-up, which stay active: the "active" calls go to them. */
const ACTIVE_KEYS = 100;
/** Calls in flight while seeding. */
const SEEDING_IN_FLIGHT = 64;

const { values } = parseArgs({
  options: {
    "nats-url": { type: "string" },
    calls: { type: "string", default: "1000" },
    "warmup-calls": { type: "string", default: "1000" },
    "payload-bytes": { type: "string", default: "80" },
  },
});
const natsUrl = values["nats-url"];
if (natsUrl === undefined) throw new Error("--nats-url is required");
const calls = Number(values.calls);

const nc = await connect({ servers: natsUrl });
const client = counterClient(nc, "keyed", Number(values["payload-bytes"]));
await untilEveryPartitionAnswers(client);

const run = Date.now().toString(36);
const activeKey = (i: number) => `act-${run}-${i % ACTIVE_KEYS}`;
const emptyKey = (i: number) => `new-${run}-${i}`;
const storedKey = (i: number) => `stored-${run}-${i}`;

for (let i = 0; i < Number(values["warmup-calls"]); i++) {
  await client.add(activeKey(i));
  await client.read(activeKey(i));
}
await spread((i) => client.add(storedKey(i), { deactivate: true }), calls, SEEDING_IN_FLIGHT);

const kinds = [
  { latencies: new Float64Array(calls), call: (i: number) => client.read(emptyKey(i)) },
  {
    latencies: new Float64Array(calls),
    call: async (i: number) => {
      if ((await client.read(storedKey(i))) !== 1n) throw new Error(`${storedKey(i)} lost its state`);
    },
  },
  { latencies: new Float64Array(calls), call: (i: number) => client.read(activeKey(i)) },
] as const;
for (let i = 0; i < calls; i++) {
  for (let k = 0; k < kinds.length; k++) {
    const kind = kinds[(i + k) % kinds.length] as (typeof kinds)[number];
    const started = performance.now();
    await kind.call(i);
    kind.latencies[i] = performance.now() - started;
  }
}
await nc.close();
const [coldEmpty, coldStored, active] = kinds.map((kind) => latencyOf(kind.latencies));
writeChildLine({
  kind: "activation",
  runtime: runtimeLabel(),
  coldEmpty: coldEmpty as ActivationLine["coldEmpty"],
  coldStored: coldStored as ActivationLine["coldStored"],
  active: active as ActivationLine["active"],
} satisfies ActivationLine);
process.exit(0);
