/**
 * Version-aware routing (ADR 0012): two versions of one actor (1.0.0 on two instances, 1.1.0 on
 * one) served in-process on a real nats-server. A routing record in the `troupe_routes` KV
 * bucket splits 3,000 calls 90/10 within ±4 binomial standard deviations; a new record applies
 * without restarting anything, awaited through the watch; a `troupe-version` header pins calls;
 * a version nobody serves is `unavailable`; a broken record keeps the previous split; the
 * gateway forwards outside calls by the same records.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport, type RunningActor, serveActor, silentLogger } from "troupe";
import { serveGateway } from "troupe/gateway";
import { openRouteStore, type RouteStore, type WatchedRoutes } from "troupe/jetstream";
import { Header } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { taggedProductActor } from "../support/tagged-product-actor.ts";

const TIMEOUT = { timeout: 120_000 };
const NAMESPACE = "split";
const CALLS = 3_000;
const SIGMAS = 4;

describe("traffic management between versions", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  let store: RouteStore;
  let routes: WatchedRoutes;
  let client: Client<typeof ProductService>;
  const invalid: string[] = [];

  /** Makes `count` calls, 100 at a time, and counts the answering version of each. */
  const split = async (count: number, headers?: Record<string, string>) => {
    const seen = new Map<string, number>();
    for (let done = 0; done < count; done += 100) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(100, count - done) }, () =>
          client.getProduct({ id: "p-1" }, headers === undefined ? {} : { headers }),
        ),
      );
      for (const { product } of answers)
        seen.set(product?.name ?? "", (seen.get(product?.name ?? "") ?? 0) + 1);
    }
    return seen;
  };
  /** Asserts that `observed` of `n` calls is within SIGMAS binomial standard deviations of share `p`. */
  const assertShare = (observed: number, n: number, p: number) => {
    const sigma = Math.sqrt(n * p * (1 - p));
    const expected = n * p;
    assert.ok(
      Math.abs(observed - expected) <= SIGMAS * sigma,
      `${observed} of ${n} calls, expected ${expected} ± ${(SIGMAS * sigma).toFixed(1)} (${SIGMAS}σ)`,
    );
  };
  const setRoute = async (weights: Record<string, number>) => {
    const revision = await store.put(ProductService, { weights });
    await routes.applied(revision); // the watch has it: the next call follows it
  };

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    for (const [tag, version] of [
      ["v1.0.0", "1.0.0"],
      ["v1.0.0", "1.0.0"],
      ["v1.1.0", "1.1.0"],
    ] as const) {
      const own = await connect({ servers: server.url });
      connections.push(own);
      actors.push(
        await serveActor(own, taggedProductActor(tag, version), {
          namespace: NAMESPACE,
          logger: silentLogger,
        }),
      );
    }
    store = await openRouteStore(nc, { namespace: NAMESPACE });
    routes = await store.watchRoutes({
      onInvalid: (service, reason) => invalid.push(`${service}: ${reason}`),
    });
    client = createClient(ProductService, createNatsTransport({ nc, namespace: NAMESPACE, routes }));
  });

  after(async () => {
    routes?.stop();
    for (const actor of actors) await actor.drain(500);
    for (const c of [...connections, nc]) await c.close();
    await server?.dispose();
  });

  test("without a routing record, calls go to every instance of every version", TIMEOUT, async () => {
    const seen = await split(300);
    assert.ok((seen.get("v1.0.0") ?? 0) > 0 && (seen.get("v1.1.0") ?? 0) > 0, JSON.stringify([...seen]));
  });

  test(`a 90/10 record splits ${CALLS} calls within ±${SIGMAS}σ`, TIMEOUT, async () => {
    await setRoute({ "1.0.0": 90, "1.1.0": 10 });
    const seen = await split(CALLS);
    assert.equal((seen.get("v1.0.0") ?? 0) + (seen.get("v1.1.0") ?? 0), CALLS);
    assertShare(seen.get("v1.1.0") ?? 0, CALLS, 0.1);
  });

  test("a changed record applies to the next calls, without a restart", TIMEOUT, async () => {
    await setRoute({ "1.0.0": 50, "1.1.0": 50 });
    const seen = await split(CALLS);
    assertShare(seen.get("v1.1.0") ?? 0, CALLS, 0.5);
    await setRoute({ "1.0.0": 0, "1.1.0": 1 });
    assert.deepEqual([...(await split(200))], [["v1.1.0", 200]], "weight 0 gets no calls");
  });

  test("the gateway forwards outside calls by the same records, and follows a change", TIMEOUT, async () => {
    const gateway = await serveGateway(
      { nc, services: [ProductService], namespace: NAMESPACE, routes, logger: silentLogger },
      { port: 0, hostname: "127.0.0.1", discovery: false },
    );
    try {
      const names = async (count: number) => {
        const seen = new Map<string, number>();
        for (let i = 0; i < count; i++) {
          const res = await fetch(`${gateway.url}/v1/products/p-1`);
          assert.equal(res.status, 200);
          const name = ((await res.json()) as { product: { name: string } }).product.name;
          seen.set(name, (seen.get(name) ?? 0) + 1);
        }
        return [...seen];
      };
      await setRoute({ "1.0.0": 0, "1.1.0": 1 });
      assert.deepEqual(await names(50), [["v1.1.0", 50]], "all to the canary");
      await setRoute({ "1.0.0": 1, "1.1.0": 0 });
      assert.deepEqual(await names(50), [["v1.0.0", 50]], "all back, without restarting the gateway");
    } finally {
      await gateway.stop(500);
    }
  });

  test("a troupe-version header pins calls to that version, over the weights", TIMEOUT, async () => {
    await setRoute({ "1.0.0": 90, "1.1.0": 10 });
    assert.deepEqual([...(await split(300, { [Header.version]: "1.1.0" }))], [["v1.1.0", 300]]);
    assert.deepEqual([...(await split(300, { [Header.version]: "1.0.0" }))], [["v1.0.0", 300]]);
    // Streams too: the opener goes to the pinned version, every frame follows it.
    async function* ids() {
      for (let i = 0; i < 10; i++) yield { id: `p-${i}` };
    }
    const names = new Set<string>();
    for await (const answer of client.lookupProducts(ids(), { headers: { [Header.version]: "1.1.0" } })) {
      names.add(answer.product?.name ?? "");
    }
    assert.deepEqual([...names], ["v1.1.0"]);
  });

  test("a version nobody serves is `unavailable`, with no silent fallback", TIMEOUT, async () => {
    const pinned = await connectErrorOf(
      client.getProduct({ id: "p-1" }, { headers: { [Header.version]: "2.0.0" } }),
    );
    assert.equal(pinned.code, Code.Unavailable);
    await setRoute({ "3.0.0": 1 });
    const routed = await connectErrorOf(client.getProduct({ id: "p-1" }));
    assert.equal(routed.code, Code.Unavailable);
    const bad = await connectErrorOf(
      client.getProduct({ id: "p-1" }, { headers: { [Header.version]: "1.*" } }),
    );
    assert.equal(bad.code, Code.InvalidArgument);
  });

  test(
    "records are checked: a bad write is refused, a bad hand-written one keeps the split",
    TIMEOUT,
    async () => {
      await setRoute({ "1.1.0": 1 });
      const refused = await connectErrorOf(store.put(ProductService, { weights: { "1.0.0": -1 } }));
      assert.equal(refused.code, Code.InvalidArgument);
      // What `nats kv put split_troupe_routes shop.v1.ProductService '{"weight":…}'` would store.
      const kv = await new Kvm(nc).open(store.bucket);
      const before = invalid.length;
      const revision = await kv.put("shop.v1.ProductService", '{"weight":{"1.0.0":1}}');
      await routes.applied(revision);
      assert.equal(invalid.length, before + 1, "the watch reported it before applying its revision");
      assert.match(invalid.at(-1) ?? "", /shop\.v1\.ProductService: .*no field "weight"/);
      assert.deepEqual([...(await split(100))], [["v1.1.0", 100]], "the previous record still routes");
      // Deleting the record returns the service to its queue group.
      await routes.applied(await store.delete(ProductService));
      assert.equal(routes.routeOf("shop.v1.ProductService"), undefined);
    },
  );
});
