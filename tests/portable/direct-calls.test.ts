/**
 * Discovery and direct calls (ADR 0012): `discoverService` lists the instances of an actor with
 * their ids, versions, endpoints, metadata and stats; a transport bound to one instance sends
 * unary and streaming calls to it and no other (its `$SRV.STATS` counts them, the other's do
 * not); a stopped instance is `unavailable` at once; `createDirectCaller` moves on to another
 * instance when the chosen one is gone. Three instances served in-process on a real nats-server.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createDirectCaller,
  createNatsTransport,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { discoverService, discoverServing, type ServiceInstance } from "troupe/discovery";
import { rpcMethodSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { taggedProductActor } from "../support/tagged-product-actor.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "direct";
const GET_PRODUCT = rpcMethodSubject(ProductService.method.getProduct, NAMESPACE);

describe("discovery and direct calls", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const connections: NatsConnection[] = [];
  const instances = new Map<string, RunningActor>();

  const serveTagged = async (tag: string) => {
    const own = await connect({ servers: server.url });
    connections.push(own);
    const actor = await serveActor(own, taggedProductActor(tag), {
      namespace: NAMESPACE,
      logger: silentLogger,
      runtime: "test 1.0",
      host: `host-${tag}`,
    });
    instances.set(tag, actor);
    return actor;
  };
  const idOf = (tag: string) => instances.get(tag)?.id ?? assert.fail(`no instance ${tag}`);
  const clientOf = (tag: string) =>
    createClient(
      ProductService,
      createNatsTransport({ nc, namespace: NAMESPACE, target: { instance: idOf(tag) } }),
    );
  const requestsOf = (found: readonly ServiceInstance[], tag: string) =>
    found.find((i) => i.id === idOf(tag))?.endpoints.find((e) => e.subject === GET_PRODUCT)?.stats
      ?.num_requests ?? 0;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    for (const tag of ["A", "B", "C"]) await serveTagged(tag);
  });

  after(async () => {
    for (const actor of instances.values()) await actor.drain(500);
    for (const c of [...connections, nc]) await c.close();
    await server?.dispose();
  });

  test("discoverService lists every instance with what a caller needs to choose one", TIMEOUT, async () => {
    const found = await discoverService(nc, "catalogue", { stats: true });
    assert.deepEqual(
      found.map((i) => i.id),
      ["A", "B", "C"].map(idOf).sort(),
    );
    for (const instance of found) {
      assert.equal(instance.version, "1.0.0");
      assert.deepEqual(instance.services, ["shop.v1.ProductService"]);
      assert.equal(instance.runtime, "test 1.0");
      assert.match(instance.host ?? "", /^host-[ABC]$/);
      assert.ok(instance.started !== undefined && !Number.isNaN(Date.parse(instance.started)));
      const endpoint = instance.endpoints.find((e) => e.subject === GET_PRODUCT);
      assert.ok(endpoint, "GetProduct is an endpoint");
      assert.equal(endpoint.queue_group, "catalogue");
      assert.ok(endpoint.stats !== undefined, "stats: true fills endpoint stats");
    }
    const withoutStats = await discoverService(nc, "catalogue");
    assert.ok(
      withoutStats.every((i) => i.started === undefined && i.endpoints.every((e) => e.stats === undefined)),
    );
    assert.equal((await discoverServing(nc, ProductService)).length, 3, "found by proto service too");
    assert.deepEqual(await discoverService(nc, "nobody"), []);
  });

  test("unary calls bound to one instance reach it alone, as its stats confirm", TIMEOUT, async () => {
    const before = await discoverService(nc, "catalogue", { stats: true });
    const a = clientOf("A");
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => a.getProduct({ id: `p-${i}` }).then((r) => r.product?.name)),
    );
    assert.deepEqual(new Set(answers), new Set(["A"]));
    const later = await discoverService(nc, "catalogue", { stats: true });
    assert.equal(requestsOf(later, "A") - requestsOf(before, "A"), 50);
    assert.equal(requestsOf(later, "B") - requestsOf(before, "B"), 0);
    assert.equal(requestsOf(later, "C") - requestsOf(before, "C"), 0);
  });

  test("streaming calls bound to one instance stay on it", TIMEOUT, async () => {
    const b = clientOf("B");
    async function* ids() {
      for (let i = 0; i < 20; i++) yield { id: `p-${i}` };
    }
    const names: string[] = [];
    for await (const answer of b.lookupProducts(ids())) names.push(answer.product?.name ?? "");
    assert.equal(names.length, 20);
    assert.deepEqual(new Set(names), new Set(["B"]));
  });

  test("a stopped instance is `unavailable` at once, unary and streaming", TIMEOUT, async () => {
    const c = clientOf("C");
    assert.equal((await c.getProduct({ id: "p-1" })).product?.name, "C");
    await instances.get("C")?.drain(500);
    const started = performance.now();
    const error = await connectErrorOf(c.getProduct({ id: "p-1" }, { timeoutMs: 10_000 }));
    assert.equal(error.code, Code.Unavailable);
    assert.ok(performance.now() - started < 2_000, "no responders, not a timeout");
    async function* one() {
      yield { id: "p-1" };
    }
    const streamError = await connectErrorOf(
      (async () => {
        for await (const _ of c.lookupProducts(one(), { timeoutMs: 10_000 })) {
          // nothing can arrive
        }
      })(),
    );
    assert.equal(streamError.code, Code.Unavailable);
    instances.delete("C");
  });

  test("a direct caller discovers, picks, and moves on when its instance is gone", TIMEOUT, async () => {
    const caller = createDirectCaller(nc, ProductService, {
      strategy: "fastest",
      discoveryTtlMs: 60_000, // the cached list keeps the stopped instance: the call must cope
      transport: { namespace: NAMESPACE },
    });
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const { name, id } = await caller.call(ProductService.method.getProduct, async (client, instance) => ({
        name: (await client.getProduct({ id: "p-1" })).product?.name ?? "",
        id: instance.id,
      }));
      assert.equal(id, idOf(name), "the answer comes from the chosen instance");
      seen.add(name);
    }
    assert.ok([...seen].every((tag) => tag === "A" || tag === "B"));
    // Stop the instance it would choose next: the call still succeeds, on the other one.
    const listed = await caller.instances();
    assert.equal(listed.length, 2);
    const victim = seen.has("B") ? "B" : "A";
    await instances.get(victim)?.drain(500);
    instances.delete(victim);
    const survivor = victim === "A" ? "B" : "A";
    for (let i = 0; i < 5; i++) {
      const name = await caller.call(
        ProductService.method.getProduct,
        async (client) => (await client.getProduct({ id: "p-2" })).product?.name,
      );
      assert.equal(name, survivor);
    }
  });
});
