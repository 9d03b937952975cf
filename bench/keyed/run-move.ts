/**
 * The move measurement, driver side: 3 keyed instances with the lease and renewal times of the
 * measurement (measurements.ts), and the move client (move-client.ts) calling every partition.
 * Then `--kills` times: once the partitions are spread over the 3 (each owns its rendezvous share)
 * and every partition answers, the client SIGKILLs the instance that owns the most partitions;
 * the driver asks the client every POLL_MS until every partition has answered a call started
 * after the kill, and starts a new instance in the victim's place.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "troupe";
import { serviceStats } from "troupe/discovery";
import { rendezvousOwner } from "../../runtime/actor/placement.ts";
import type { Site } from "../shared/measurement.ts";
import { withChildren } from "../shared/with-children.ts";
import { KEYED_ACTOR } from "./counter-actors.ts";
import { type MeasurementName, MOVE_TIMINGS, type MoveName } from "./measurements.ts";
import { KILL_SUBJECT, type MoveStatus, parseMoveReadyLine, STATUS_SUBJECT } from "./move-protocol.ts";
import { partitionCount } from "./partition-keys.ts";
import type { KillResult, MeasurementRun } from "./results.ts";
import type { RunOptions } from "./run-options.ts";
import { INSTANCE_START_TIMEOUT_MS, startInstance } from "./start-instance.ts";

const INSTANCES = 3;
/** How often the driver asks the client. */
const POLL_MS = 50;
/** Longest wait for every partition to answer after a kill: far beyond the target. */
const ANSWER_TIMEOUT_MS = 30_000;
/** Longest wait for the partitions to spread over the instances again. */
const SETTLE_TIMEOUT_MS = 60_000;
/** The spread must hold this long (the last moves of a rebalance are done) before a kill. */
const SETTLED_FOR_MS = 1_500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function measureMove(
  site: Site<MeasurementName>,
  name: MoveName,
  options: RunOptions,
): Promise<MeasurementRun> {
  const { leaseMs, renewMs } = MOVE_TIMINGS[name];
  const timing = ["--service", "keyed", "--lease-ms", String(leaseMs), "--renew-ms", String(renewMs)];
  return withChildren(site.repoRoot, async (children) => {
    let instances = await Promise.all(
      Array.from({ length: INSTANCES }, () => startInstance(children, site, timing)),
    );
    const client = children.spawn(
      site.runtime,
      "bench/keyed/move-client.ts",
      ["--nats-url", site.natsUrl],
      parseMoveReadyLine,
    );
    const ready = await client.nextLine(INSTANCE_START_TIMEOUT_MS);
    const nc = await connect({ servers: site.natsUrl });
    const kills: KillResult[] = [];
    try {
      for (let k = 0; k < options.kills; k++) {
        const owned = await untilSpread(
          nc,
          instances.map((i) => i.id),
        );
        const victim = instances.reduce((a, b) => ((owned.get(b.id) ?? 0) > (owned.get(a.id) ?? 0) ? b : a));
        await nc.request(KILL_SUBJECT, JSON.stringify({ pid: victim.pid, instance: victim.id }), {
          timeout: 5_000,
        });
        kills.push(await untilAnswered(nc));
        instances = [...instances.filter((i) => i !== victim), await startInstance(children, site, timing)];
      }
    } finally {
      await nc.close();
    }
    return {
      kind: "result",
      runtimeVersion: ready.runtime,
      result: { measurement: "move", leaseMs, renewMs, kills },
    };
  });
}

async function status(nc: NatsConnection): Promise<MoveStatus> {
  return (await nc.request(STATUS_SUBJECT, undefined, { timeout: 5_000 })).json<MoveStatus>();
}

/** Polls the client until every partition answered a call started after the kill. */
async function untilAnswered(nc: NatsConnection): Promise<KillResult> {
  const deadline = performance.now() + ANSWER_TIMEOUT_MS;
  for (;;) {
    const now = await status(nc);
    const { partitions } = now;
    if (partitions.length > 0 && partitions.every((p) => p.answeredMs !== null)) {
      const victims = partitions.filter((p) => p.heldByVictim);
      const leases = victims.map((p) => p.leaseMs).filter((ms): ms is number => ms !== null);
      return {
        victimPartitions: victims.length,
        moved: leases.length,
        answeredMs: Math.max(...partitions.map((p) => p.answeredMs as number)),
        leaseMs: leases.length === victims.length && leases.length > 0 ? Math.max(...leases) : null,
        memberGoneMs: now.memberGoneMs,
        failures: partitions.reduce((sum, p) => sum + p.failures, 0),
      };
    }
    if (performance.now() > deadline) {
      const silent = partitions.filter((p) => p.answeredMs === null).map((p) => p.partition);
      throw new Error(
        `partitions ${silent.join(", ")} did not answer within ${ANSWER_TIMEOUT_MS} ms of the kill`,
      );
    }
    await sleep(POLL_MS);
  }
}

/**
 * Resolves, with the partitions each instance owns, once each of `ids` owns the share rendezvous
 * hashing gives it (which may be none) for SETTLED_FOR_MS, and every partition's last call
 * succeeded.
 */
async function untilSpread(nc: NatsConnection, ids: readonly string[]): Promise<Map<string, number>> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  const partitions = partitionCount();
  const owners = Array.from({ length: partitions }, (_, p) => rendezvousOwner(p, ids));
  const expected = ids.map((id) => owners.filter((o) => o === id).length);
  let since: number | undefined;
  for (;;) {
    const stats = await serviceStats(nc, { name: KEYED_ACTOR });
    const owned = new Map<string, number>();
    for (const s of stats) {
      const data = s.data as { keyed?: { partitions: number }[] } | undefined;
      owned.set(s.id, data?.keyed?.[0]?.partitions ?? 0);
    }
    const counts = ids.map((id) => owned.get(id) ?? 0);
    const spread = counts.every((n, i) => n === expected[i]) && (await status(nc)).answering;
    if (!spread) since = undefined;
    else if (since === undefined) since = performance.now();
    else if (performance.now() - since >= SETTLED_FOR_MS) return owned;
    if (performance.now() > deadline) {
      throw new Error(
        `the partitions did not spread over the ${ids.length} instances: ${counts.join(", ")}, expected ${expected.join(", ")}`,
      );
    }
    await sleep(250);
  }
}
