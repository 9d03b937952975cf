/**
 * The same actor files on three runtimes at once: the product actor on Deno, the user actor on
 * Node, and the caller on Bun (this test). A call from Bun to user makes user call product, and
 * the product details come back; discovery tells which runtime each instance runs on; both
 * processes drain and exit 0 on SIGTERM.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport } from "troupe";
import { ServiceMetadata, serviceInfos, serviceStats } from "troupe/discovery";
import { rpcMethodSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { type ActorProcess, startActorProcess } from "../support/actor-process.ts";

describe("actors on Bun, Deno and Node together", () => {
  let server: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  const processes: ActorProcess[] = [];

  after(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await nc?.close();
    await server?.dispose();
  });

  test("Bun calls user on Node, which calls product on Deno", { timeout: 90_000 }, async () => {
    server = await startNatsServer();
    const natsUrl = server.url;
    const [product, user] = await Promise.all([
      startActorProcess({ runtime: "deno", file: "actors/product/main.ts", natsUrl, readyTimeoutMs: 60_000 }),
      startActorProcess({ runtime: "node", file: "actors/user/main.ts", natsUrl, readyTimeoutMs: 60_000 }),
    ]);
    processes.push(product, user);

    nc = await connect({ servers: natsUrl });
    const users = createClient(UserService, createNatsTransport({ nc, timeoutMs: 15_000 }));
    const { user: shopper } = await users.registerUser({
      idempotencyKey: "cross-runtime-1",
      email: "grace@example.org",
      displayName: "Grace",
    });
    assert.ok(shopper);
    await users.recordProductView({ viewId: "cr-1", userId: shopper.id, productId: "p-1006" });
    await users.recordProductView({ viewId: "cr-2", userId: shopper.id, productId: "p-1011" });
    const { products } = await users.listRecentlyViewed({ userId: shopper.id });
    assert.deepEqual(
      products.map((entry) => [entry.product?.id, entry.product?.name, entry.product?.price?.amountMinor]),
      [
        ["p-1011", "Ultralight tent, 2 person", 34900n],
        ["p-1006", "Leather hiking boots, brown, 43", 21900n],
      ],
    );

    // Discovery names each instance's runtime.
    const [productInfo] = await serviceInfos(nc, { name: "product", id: product.id });
    const [userInfo] = await serviceInfos(nc, { name: "user", id: user.id });
    assert.match(productInfo?.metadata[ServiceMetadata.runtime] ?? "", /^deno /);
    assert.match(userInfo?.metadata[ServiceMetadata.runtime] ?? "", /^node /);

    // The product details came from the Deno instance: it served every nested GetProduct (two
    // checks while recording the views, two lookups for the list).
    const [stats] = await serviceStats(nc, { name: "product", id: product.id });
    const getProduct = stats?.endpoints.find(
      (e) => e.subject === rpcMethodSubject(ProductService.method.getProduct),
    );
    assert.deepEqual([getProduct?.num_requests, getProduct?.num_errors], [4, 0]);

    // Both drain and exit 0 on their runtimes.
    product.signal("SIGTERM");
    user.signal("SIGTERM");
    assert.deepEqual(await product.exited, { code: 0, signal: null }, product.output());
    assert.deepEqual(await user.exited, { code: 0, signal: null }, user.output());
  });
});
