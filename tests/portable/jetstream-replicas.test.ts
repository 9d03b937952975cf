/**
 * TROUPE_JETSTREAM_REPLICAS (runtime/process/process-env.ts, runtime/jetstream/default-replicas.ts):
 * an actor process told 3 on a 3-node cluster declares its streams and the KV buckets its own
 * code opens (`openStateStore(ctx.nc, …)` without a count) with three copies, and its consumers
 * follow their streams; a count the code sets itself wins; a value other than 1, 3 or 5 stops
 * the process at start, naming the variable. The process runs on the runtime of the test.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, openStateStore } from "troupe";
import { type NatsCluster, startNatsCluster } from "troupe/testing";
import { InvoiceSchema } from "../../proto/gen/shop/v1/billing_pb.ts";
import { defaultReplicas, setDefaultReplicas } from "../../runtime/jetstream/default-replicas.ts";
import { runtimeInfo } from "../../runtime/platform/runtime-info.ts";
import { spawnProcess } from "../../runtime/platform/spawn-process.ts";
import {
  commandFor,
  exitWithin,
  type JsRuntime,
  REPO_ROOT,
  startActorProcess,
} from "../support/actor-process.ts";

const runtime = runtimeInfo().name as JsRuntime;
const TIMEOUT = { timeout: 120_000 };

let cluster: NatsCluster;
let nc: NatsConnection;
before(async () => {
  cluster = await startNatsCluster({ size: 3 });
  nc = await connect({ servers: [...cluster.urls] });
});
after(async () => {
  await nc?.close();
  await cluster?.dispose();
});

test(
  "an actor process told 3 declares its streams, consumers and own buckets with three copies",
  TIMEOUT,
  async () => {
    // The billing actor opens `invoices` and `invoice_numbers` itself and consumes OrderPlaced.
    await using billing = await startActorProcess({
      runtime,
      file: "actors/billing/main.ts",
      natsUrl: cluster.urls.join(","),
      env: { TROUPE_JETSTREAM_REPLICAS: "3", TROUPE_ROUTES: "off" },
    });
    assert.equal(billing.ready.actor, "billing");
    const jsm = await jetstreamManager(nc);
    for (const stream of ["KV_invoices", "KV_invoice_numbers", "EVT_shop_v1", "DLQ"]) {
      const info = await jsm.streams.info(stream);
      assert.equal(info.config.num_replicas, 3, `${stream} has three copies`);
    }
    const consumers = await jsm.consumers.list("EVT_shop_v1").next();
    assert.ok(consumers.length > 0, "billing consumes shop events");
    for (const consumer of consumers) {
      // 0: as many as its stream; a leader and two replicas.
      assert.equal(consumer.config.num_replicas ?? 0, 0, consumer.name);
      assert.equal(
        consumer.cluster?.replicas?.length,
        2,
        `${consumer.name}: ${JSON.stringify(consumer.cluster)}`,
      );
    }
  },
);

test(
  "the connection's count applies where the code sets none; the code's own count wins",
  TIMEOUT,
  async () => {
    const own = await connect({ servers: [...cluster.urls] });
    try {
      assert.equal(defaultReplicas(own), 1, "one copy unless told");
      setDefaultReplicas(own, 3);
      assert.equal(defaultReplicas(own), 3);
      assert.equal(defaultReplicas(nc), 1, "per connection");
      assert.throws(() => setDefaultReplicas(own, 2), /replicas must be 1, 3 or 5, got 2/);
      await openStateStore(own, { bucket: "replicas_default", schema: InvoiceSchema });
      await openStateStore(own, { bucket: "replicas_explicit", schema: InvoiceSchema, replicas: 1 });
      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.streams.info("KV_replicas_default")).config.num_replicas, 3);
      assert.equal((await jsm.streams.info("KV_replicas_explicit")).config.num_replicas, 1);
    } finally {
      await own.close();
    }
  },
);

test("TROUPE_JETSTREAM_REPLICAS other than 1, 3 or 5 stops the actor at start", TIMEOUT, async () => {
  const { command, args } = commandFor(runtime, "actors/billing/main.ts");
  const child = spawnProcess(command, args, {
    cwd: REPO_ROOT,
    env: { NATS_URL: cluster.urls.join(","), TROUPE_JETSTREAM_REPLICAS: "2" },
  });
  const status = await exitWithin(child, 30_000);
  assert.deepEqual(status, { code: 1, signal: null }, child.output());
  assert.match(child.output(), /TROUPE_JETSTREAM_REPLICAS must be 1, 3 or 5, got \\"2\\"/);
  assert.doesNotMatch(child.output(), /"actor ready"/);
});
