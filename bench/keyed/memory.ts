/**
 * The memory measurement's client process, against one keyed instance started with a short
 * `idleMs` (the driver passes the same `--idle-ms` to both): asks the instance for its memory
 * after a forced collection (its probe subject, peers/instance.ts) and reads its count of active
 * actors from `$SRV.STATS`, at four points:
 * 1. fresh: right after start;
 * 2. baseline: after a warm-up (`--warmup-keys` keys, one Add each) whose actors passivated;
 * 3. active: right after `--active-keys` new keys got one Add each: every one of them active;
 * 4. passivated: after `--passivated-keys` more keys got one Add each and every actor passivated.
 * Writes one "memory" line for the driver.
 *
 *   <runtime> bench/keyed/memory.ts --nats-url nats://127.0.0.1:4333 --instance <id> --idle-ms 10000 \
 *     --warmup-keys 2000 --active-keys 10000 --passivated-keys 100000
 */
import { parseArgs } from "node:util";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "troupe";
import { serviceStats } from "troupe/discovery";
import { writeChildLine } from "../shared/child-line.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";
import type { CountedSample, MemoryLine, MemorySample } from "./child-line.ts";
import { KEYED_ACTOR } from "./counter-actors.ts";
import { counterClient } from "./counter-client.ts";
import { untilEveryPartitionAnswers } from "./partition-keys.ts";
import { probeSubject } from "./probe-subject.ts";
import { spread } from "./timed-load.ts";

const IN_FLIGHT = 64;
/** A probe collects several times: give it time. */
const PROBE_TIMEOUT_MS = 30_000;

const { values } = parseArgs({
  options: {
    "nats-url": { type: "string" },
    instance: { type: "string" },
    "idle-ms": { type: "string", default: "10000" },
    "warmup-keys": { type: "string", default: "2000" },
    "active-keys": { type: "string", default: "10000" },
    "passivated-keys": { type: "string", default: "100000" },
  },
});
const natsUrl = values["nats-url"];
const instance = values.instance;
if (natsUrl === undefined || instance === undefined)
  throw new Error("--nats-url and --instance are required");
const idleMs = Number(values["idle-ms"]);
const activeKeys = Number(values["active-keys"]);
const passivatedKeys = Number(values["passivated-keys"]);

const nc = await connect({ servers: natsUrl });
const client = counterClient(nc, "keyed", 16);
const run = Date.now().toString(36);

const fresh = await sample(nc);
await untilEveryPartitionAnswers(client);
await spread((i) => client.add(`warm-${run}-${i}`), Number(values["warmup-keys"]), IN_FLIGHT);
await untilPassivated(nc);
const baseline = await sample(nc);

await spread((i) => client.add(`active-${run}-${i}`), activeKeys, IN_FLIGHT);
const active = await sample(nc);
if (active.active < activeKeys) {
  throw new Error(
    `only ${active.active} of ${activeKeys} actors were active when measured: raise --idle-ms (${idleMs})`,
  );
}
await untilPassivated(nc);
await spread((i) => client.add(`once-${run}-${i}`), passivatedKeys, IN_FLIGHT);
await untilPassivated(nc);
const passivated = await sample(nc);

await nc.close();
writeChildLine({
  kind: "memory",
  runtime: runtimeLabel(),
  fresh,
  baseline,
  active: { ...active, keys: activeKeys },
  passivated: { ...passivated, keys: passivatedKeys },
} satisfies MemoryLine);
process.exit(0);

/** The instance's active actors, from its keyed stats in `$SRV.STATS`. */
async function activeActors(nc: NatsConnection): Promise<number> {
  const stats = await serviceStats(nc, { name: KEYED_ACTOR });
  const data = stats.find((s) => s.id === instance)?.data as { keyed?: { active: number }[] } | undefined;
  const active = data?.keyed?.[0]?.active;
  if (active === undefined) throw new Error(`instance ${instance} reports no keyed stats`);
  return active;
}

/** The instance's memory after a forced collection, and its active actors right after. */
async function sample(nc: NatsConnection): Promise<CountedSample> {
  const reply = await nc.request(probeSubject(instance as string, "memory"), undefined, {
    timeout: PROBE_TIMEOUT_MS,
  });
  const memory = reply.json<MemorySample>();
  return { ...memory, active: await activeActors(nc) };
}

/** Resolves once the instance has no active actor (each passivates `idleMs` after its last turn). */
async function untilPassivated(nc: NatsConnection): Promise<void> {
  const deadline = performance.now() + idleMs + 30_000;
  while ((await activeActors(nc)) > 0) {
    if (performance.now() > deadline) throw new Error(`actors still active ${idleMs + 30_000} ms later`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, idleMs / 4)));
  }
}
