/**
 * The chaos suite (issue 11, "Nothing lost under faults"; docs/guide/chaos.md): the whole shop
 * under `troupe dev`, on troupe dev's own nats-server ("single") and on a 3-node cluster with
 * every stream and KV bucket in three copies ("cluster"). Virtual users register and place
 * orders through the gateway, retrying with the same idempotency keys, while the suite SIGKILLs
 * every actor in turn, pauses and restarts nats-server and, on the cluster, kills one node. After
 * the load it lets the system settle, checks the invariants exactly, stops troupe dev with SIGINT
 * and checks that nothing of it is left; then prints the report, writes JUnit XML when asked,
 * and exits 1 on any violation.
 *
 *   bun run tests/chaos/run.ts [--profile short|long] [--topology single|cluster|both]
 *                              [--junit <file>] [--seed <n>] [--users <n>] [--keep] [--no-faults]
 *
 * (or `node --conditions=troupe-source tests/chaos/run.ts …`; `npm run chaos` runs both
 * topologies with the short profile). Linux only: it reads /proc for memory and leftovers.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport } from "troupe";
import { type NatsCluster, startNatsCluster } from "troupe/testing";
import { InventoryService, StockAdjustmentReason } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { readProjectConfig } from "../../runtime/cli/project-config.ts";
import { parseServers } from "../../runtime/process/process-env.ts";
import { REPO_ROOT } from "../support/actor-process.ts";
import { type ActorMemory, formatTopology, junitXml, type TopologyResult } from "./chaos-report.ts";
import { type DevShop, residentBytes, type StopResult, startDevShop } from "./dev-shop.ts";
import { type Fault, type InjectedFault, injectFaults, killActor } from "./faults.ts";
import {
  checkInvariants,
  INVARIANTS,
  type InvariantResult,
  type StockLevel,
  settle,
  stockOf,
  takeSnapshot,
} from "./invariants.ts";
import { clusterFaults, type NatsFaults, singleServerFaults } from "./nats-faults.ts";
import { type ChaosProfile, profiles } from "./profiles.ts";
import { type Operation, runLoad, seededRandom } from "./shop-load.ts";

type Topology = "single" | "cluster";

const { values } = parseArgs({
  options: {
    profile: { type: "string", default: "short" },
    topology: { type: "string", default: "both" },
    junit: { type: "string" },
    seed: { type: "string", default: "11" },
    users: { type: "string" },
    keep: { type: "boolean", default: false },
    "no-faults": { type: "boolean", default: false },
  },
});
const chosen = profiles[values.profile as ChaosProfile["name"]];
if (chosen === undefined) throw new Error(`--profile must be short or long, got ${values.profile}`);
// --users overrides the profile's virtual users (a slower topology needs more to reach a rate).
const users = values.users === undefined ? chosen.users : Number(values.users);
if (!Number.isSafeInteger(users) || users < 1)
  throw new Error(`--users must be a whole number > 0, got ${values.users}`);
const profile: ChaosProfile = { ...chosen, users };
const topologies: Topology[] =
  values.topology === "both" ? ["single", "cluster"] : [values.topology as Topology];
if (!topologies.every((t) => t === "single" || t === "cluster")) {
  throw new Error(`--topology must be single, cluster or both, got ${values.topology}`);
}
const seed = Number(values.seed);
const audience = readProjectConfig(REPO_ROOT).gateway.jwtAudience;

const say = (topology: Topology, line: string) => console.log(`[chaos ${topology}] ${line}`);

async function runTopology(topology: Topology): Promise<TopologyResult> {
  const startedAt = Date.now();
  const scratch = mkdtempSync(join(tmpdir(), `troupe-chaos-${topology}-`));
  const dataDir = join(scratch, "data");
  mkdirSync(dataDir, { recursive: true });
  const setup: string[] = [];
  const operations: Operation[] = [];
  let faults: InjectedFault[] = [];
  let memory: ActorMemory[] = [];
  let invariants: InvariantResult[] = [];
  let error: string | undefined;
  let loadMs = profile.loadMs;
  let cluster: NatsCluster | undefined;
  let dev: DevShop | undefined;
  let nats: NatsFaults | undefined;
  let nc: NatsConnection | undefined;
  let stop: StopResult | undefined;
  try {
    if (topology === "cluster") {
      cluster = await startNatsCluster({ size: 3, clusterName: "chaos" });
      setup.push(`a 3-node nats-server cluster: ${cluster.urls.join(", ")}; streams and KV buckets R3`);
    }
    dev = await startDevShop({
      dataDir,
      ...(cluster === undefined ? {} : { natsUrl: cluster.urls.join(",") }),
      env: cluster === undefined ? {} : { TROUPE_JETSTREAM_REPLICAS: "3" },
      readyTimeoutMs: 120_000,
    });
    const actors = [...dev.actorPids().keys()].sort();
    setup.push(
      `troupe dev ready in ${(dev.startupMs / 1000).toFixed(1)} s: ${actors.length} actors (${actors.join(", ")}), gateway ${dev.gatewayUrl}, NATS ${dev.natsUrl}`,
      `data folder ${dataDir} (troupe dev's output in troupe-dev.log there)`,
    );
    say(topology, setup.at(-2) ?? "");
    nats =
      cluster === undefined
        ? singleServerFaults(dev, profile.pauseMs)
        : clusterFaults(cluster, profile.pauseMs, profile.nodeDownMs);
    nc = await connect({
      servers: parseServers(dev.natsUrl),
      maxReconnectAttempts: -1,
      name: "chaos",
      ...(dev.natsCreds === undefined
        ? {}
        : {
            authenticator: credsAuthenticator(new TextEncoder().encode(readFileSync(dev.natsCreds, "utf8"))),
          }),
      ...(dev.natsCa === undefined ? {} : { tls: { caFile: dev.natsCa } }),
    });

    // The catalogue's products, each restocked (one scarce, so that some orders find too little).
    const listed = await fetch(`${dev.gatewayUrl}/v1/products`);
    const { products = [] } = (await listed.json()) as { products?: { id: string }[] };
    const productIds = products.map((p) => p.id).sort();
    if (productIds.length === 0)
      throw new Error(`GET /v1/products listed no product (HTTP ${listed.status})`);
    const scarce = productIds.at(-1) as string;
    const inventory = createClient(InventoryService, createNatsTransport({ nc, timeoutMs: 10_000 }));
    for (const productId of productIds) {
      await inventory.adjustStock({
        adjustmentId: `chaos-restock-${productId}`,
        productId,
        delta: BigInt(productId === scarce ? profile.scarceStock : profile.stock),
        reason: StockAdjustmentReason.RESTOCK,
        note: "chaos suite",
      });
    }
    const stockBefore = new Map<string, StockLevel>();
    for (const productId of productIds) stockBefore.set(productId, await stockOf(dev.gatewayUrl, productId));
    setup.push(
      `${productIds.length} products restocked with ${profile.stock} units (${scarce}: ${profile.scarceStock}); on hand before the load: ${[...stockBefore.values()].reduce((n, s) => n + s.onHand, 0)} units`,
    );

    const startPids = dev.actorPids();
    const startMemory = new Map([...startPids].map(([name, pid]) => [name, residentBytes(pid)]));

    // Every actor in turn, with the nats-server faults spread among them.
    const natsFaults = [...nats.faults];
    const step = Math.ceil(actors.length / (natsFaults.length + 1));
    const plan: Fault[] = [];
    actors.forEach((name, i) => {
      plan.push(killActor(dev as DevShop, name));
      if ((i + 1) % step === 0 && natsFaults.length > 0) plan.push(natsFaults.shift() as Fault);
    });
    plan.push(...natsFaults);
    // --no-faults: the same load on a quiet system, the baseline every invariant must hold on.
    if (values["no-faults"]) plan.length = 0;
    const loadStart = Date.now();
    // The load lasts `loadMs`, longer if the first round of faults takes longer: every fault is
    // injected under load. Operations unanswered when it ends retry for `settleMs` more.
    let faultsOver = false;
    let loadOver = Number.POSITIVE_INFINITY;
    const loading = () => !faultsOver || Date.now() < loadStart + profile.loadMs;
    const giveUpAt = () => loadOver + profile.settleMs;
    say(
      topology,
      `load: ${profile.users} virtual users for ${profile.loadMs / 1000} s, a fault every ${profile.faultEveryMs / 1000} s`,
    );
    const injecting = injectFaults(
      plan,
      { startedAt: loadStart, everyMs: profile.faultEveryMs, untilMs: loadStart + profile.loadMs },
      (f) => say(topology, `+${(f.atMs / 1000).toFixed(1)} s ${f.kind} ${f.target}: ${f.detail}`),
    ).finally(() => {
      faultsOver = true;
      return nats?.restore();
    });
    const progress = setInterval(() => {
      const placed = operations.filter((o) => o.kind === "PlaceOrder");
      say(
        topology,
        `${placed.length} orders placed, ${placed.filter((o) => o.endedAt === 0).length} in flight`,
      );
    }, 30_000);
    const ended = setInterval(() => {
      if (!loading() && loadOver === Number.POSITIVE_INFINITY) loadOver = Date.now();
    }, 100);
    try {
      await runLoad(
        {
          gatewayUrl: dev.gatewayUrl,
          dataDir,
          audience,
          users: profile.users,
          ordersPerAccount: profile.ordersPerAccount,
          productIds,
          declineRate: profile.declineRate,
          attemptTimeoutMs: profile.attemptTimeoutMs,
          loading,
          giveUpAt,
          random: seededRandom(seed),
        },
        operations,
      );
    } finally {
      clearInterval(progress);
      clearInterval(ended);
      faults = await injecting;
    }
    loadMs = Math.min(loadOver, Date.now()) - loadStart;
    say(topology, `load over: ${operations.length} operations; settling`);

    const settled = await settle(nc, Math.max(giveUpAt(), Date.now() + 15_000));
    const endPids = dev.actorPids();
    memory = actors.map((name) => ({
      name,
      startBytes: startMemory.get(name),
      endBytes: residentBytes(endPids.get(name) ?? -1),
      restarts: (dev?.pidHistory().get(name)?.length ?? 1) - 1,
    }));
    const snapshot = await takeSnapshot(nc, dev.gatewayUrl, join(dataDir, "mail"), stockBefore);
    invariants = checkInvariants(snapshot, settled);
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    if (dev !== undefined) error += `\ntroupe dev's last output:\n${dev.output(3_000)}`;
  } finally {
    await nats?.restore().catch(() => {});
    if (dev !== undefined) stop = await dev.stop(nats?.ownPids() ?? []);
    await nc?.close().catch(() => {});
    const own = nats?.ownPids() ?? [];
    await nats?.dispose().catch(() => {});
    if (nats === undefined) await cluster?.dispose();
    if (own.length > 0) {
      setup.push(
        `the nats-server the suite restarted (pid ${own.join(", ")}) is the suite's own (troupe dev does not restart its nats-server): stopped by the suite after troupe dev`,
      );
    }
  }

  const checked = new Set(invariants.map((i) => i.name));
  for (const name of Object.values(INVARIANTS)) {
    if (name === INVARIANTS.noProcessLeft || checked.has(name)) continue;
    invariants.push({
      name,
      passed: false,
      summary: "not checked: the run did not get that far",
      details: [],
    });
  }
  invariants.push(noProcessLeft(stop));
  const failed = invariants.some((i) => !i.passed) || error !== undefined;
  if (!failed && !values.keep) rmSync(scratch, { recursive: true, force: true });
  else setup.push(`kept ${scratch} for a look`);
  return {
    topology,
    profile: profile.name,
    setup,
    loadMs,
    faults,
    operations,
    memory,
    invariants,
    ...(error === undefined ? {} : { error }),
    durationMs: Date.now() - startedAt,
  };
}

function noProcessLeft(stop: StopResult | undefined): InvariantResult {
  if (stop === undefined) {
    return {
      name: INVARIANTS.noProcessLeft,
      passed: false,
      summary: "troupe dev never started",
      details: [],
    };
  }
  const exit =
    stop.exit === "timeout" ? "had not exited 60 s after SIGINT" : `exited with ${JSON.stringify(stop.exit)}`;
  const cleanExit = stop.exit !== "timeout" && stop.exit.code === 0;
  return {
    name: INVARIANTS.noProcessLeft,
    passed: cleanExit && stop.leftovers.length === 0,
    summary: `on SIGINT troupe dev ${exit} after ${(stop.stopMs / 1000).toFixed(1)} s; of ${stop.watched} processes it ran, ${stop.leftovers.length} left running`,
    details: stop.leftovers.slice(0, 10),
  };
}

const results: TopologyResult[] = [];
for (const topology of topologies) {
  const result = await runTopology(topology);
  results.push(result);
  console.log(`\n${formatTopology(result)}\n`);
}
if (values.junit !== undefined) {
  mkdirSync(dirname(values.junit), { recursive: true });
  writeFileSync(values.junit, junitXml(results));
}
const all = results.flatMap((r) => r.invariants);
const failedRuns = results.filter((r) => r.error !== undefined).length;
const passed = all.filter((i) => i.passed).length;
console.log(
  `chaos: ${passed} passed, ${all.length - passed} failed${failedRuns > 0 ? ` (${failedRuns} runs failed)` : ""}`,
);
process.exit(all.length - passed > 0 || failedRuns > 0 ? 1 : 0);
