/**
 * An actor process shuts down without losing a call: on SIGTERM or SIGINT it leaves discovery,
 * stops taking calls (the queue group sends them to the other instance), finishes the call it
 * is serving, and exits 0. Two product actor processes against a real nats-server; instance A
 * (tests/support/slow-product-main.ts) answers reads after PRODUCT_DELAY_MS, so a call can be
 * held in flight while A is told to stop; B is `bun run actors/product/main.ts`.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport } from "troupe";
import { pingServices, serviceStats } from "troupe/discovery";
import { rpcMethodSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { type ActorProcess, startActorProcess } from "../support/actor-process.ts";

/** How long instance A takes to answer a read: the window in which it is told to stop. */
const DELAY_MS = 5_000;
/** Calls made while A drains; every one must be served by B. */
const CALLS_DURING_DRAIN = 20;
const GET_PRODUCT = rpcMethodSubject(ProductService.method.getProduct);

/** The ids of the product instances that answer `$SRV.PING.product`. */
async function productIds(nc: NatsConnection): Promise<string[]> {
  return (await pingServices(nc, { name: "product" })).map((p) => p.id).sort();
}

/** From `$SRV.STATS.product.<id>`: the counters of the instance's GetProduct endpoint. */
async function getProductStats(nc: NatsConnection, id: string) {
  const [stats] = await serviceStats(nc, { name: "product", id });
  assert.ok(stats, `instance ${id} answers $SRV.STATS`);
  const endpoint = stats.endpoints.find((e) => e.subject === GET_PRODUCT);
  assert.ok(endpoint, `instance ${id} reports an endpoint on ${GET_PRODUCT}`);
  return endpoint;
}

describe("actor process lifecycle", () => {
  let server: NatsServer | undefined;
  const processes: ActorProcess[] = [];
  const connections: NatsConnection[] = [];

  after(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal}: the in-flight call completes, the instance leaves discovery and exits 0, calls go to the other`, {
      timeout: 60_000,
    }, async () => {
      server ??= await startNatsServer();
      const nc = await connect({ servers: server.url });
      connections.push(nc);
      const natsUrl = server.url;
      const products = createClient(ProductService, createNatsTransport({ nc, timeoutMs: 30_000 }));

      const a = await startActorProcess({
        runtime: "bun",
        file: "tests/support/slow-product-main.ts",
        natsUrl,
        env: { PRODUCT_DELAY_MS: String(DELAY_MS), TROUPE_DRAIN_GRACE_MS: "30000" },
      });
      processes.push(a);
      assert.deepEqual(await productIds(nc), [a.id], "A is the only product instance");

      // A is the only member of the queue group: once the server has the request (flush), A has it.
      let settled = false;
      const started = performance.now();
      const slow = products.getProduct({ id: "p-1004" }).finally(() => {
        settled = true;
      });
      await nc.flush();

      a.signal(signal);
      const draining = await a.waitForLog("draining");
      assert.equal(draining.signal, signal);
      const startingB = startActorProcess({ runtime: "bun", file: "actors/product/main.ts", natsUrl });
      startingB.then((b) => processes.push(b)).catch(() => {});

      // A leaves discovery first, while it still runs and serves the call.
      let ids = await productIds(nc);
      for (let i = 0; ids.includes(a.id) && i < 20; i++) ids = await productIds(nc);
      assert.ok(!ids.includes(a.id), "A left $SRV.PING.product");
      assert.equal(a.exitStatus, undefined, "A left discovery before exiting");
      assert.equal(settled, false, "A left discovery while its call was still in flight");

      const b = await startingB;
      assert.deepEqual(await productIds(nc), [b.id], "discovery lists B alone");
      const before = await getProductStats(nc, b.id);
      assert.equal(before.num_requests, 0);

      // While A drains, new calls all reach B (A would take DELAY_MS to answer each).
      const answers = await Promise.all(
        Array.from({ length: CALLS_DURING_DRAIN }, (_, i) =>
          products.getProduct({ id: `p-10${String((i % 12) + 1).padStart(2, "0")}` }),
        ),
      );
      assert.equal(answers.length, CALLS_DURING_DRAIN);
      assert.equal(settled, false, "A was still draining while B served them");
      const during = await getProductStats(nc, b.id);
      assert.deepEqual(
        [during.num_requests, during.num_errors],
        [CALLS_DURING_DRAIN, 0],
        "B served every call",
      );

      // The call A held when it was told to stop completes successfully.
      const { product } = await slow;
      assert.equal(product?.id, "p-1004");
      assert.ok(performance.now() - started >= DELAY_MS - 50, "A (the delayed instance) answered it");
      assert.deepEqual(await a.exited, { code: 0, signal: null }, `A exits 0: ${a.output()}`);
      assert.equal((await a.waitForLog("stopped")).code, 0);

      // After A is gone, calls keep working and keep going to B.
      await products.getProduct({ id: "p-1001" });
      const afterwards = await getProductStats(nc, b.id);
      assert.equal(afterwards.num_requests, CALLS_DURING_DRAIN + 1);

      b.signal("SIGTERM");
      assert.deepEqual(await b.exited, { code: 0, signal: null });
      const error = await products.getProduct({ id: "p-1001" }).then(
        () => assert.fail("no product instance is left"),
        (err: unknown) => ConnectError.from(err),
      );
      assert.equal(error.code, Code.Unavailable, "with no instance left, a call is unavailable at once");
    });
  }
});
