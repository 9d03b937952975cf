/** `stop` releases what `setup` opened, once, when the actor drains — after its calls finish. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { connect, createNatsTransport, defineActor, implement, serveActor, silentLogger } from "troupe";
import { startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";

test("stop runs once at drain, after the in-flight call completed", { timeout: 30_000 }, async () => {
  await using server = await startNatsServer({ jetstream: false });
  const nc = await connect({ servers: server.url });
  const events: string[] = [];
  let release: () => void = () => {};
  const slow = new Promise<void>((resolve) => {
    release = resolve;
  });
  const actor = await serveActor(
    nc,
    defineActor({
      name: "hooks",
      version: "1.0.0",
      description: "stop hook test",
      serves: [ProductService],
      setup: () => ({ opened: true }),
      services: (_ctx, state) => [
        implement(ProductService, {
          async getProduct(req) {
            events.push(`call ${state.opened}`);
            await slow;
            events.push("call done");
            return { product: { id: req.id } };
          },
        }),
      ],
      stop: (_ctx, state) => {
        events.push(`stop ${state.opened}`);
      },
    }),
    { logger: silentLogger },
  );
  try {
    const client = createClient(ProductService, createNatsTransport({ nc }));
    const call = client.getProduct({ id: "p1" });
    while (events.length === 0) await nc.flush(); // the call reached the handler
    const drained = actor.drain(5_000);
    release();
    await drained;
    assert.equal((await call).product?.id, "p1");
    assert.deepEqual(events, ["call true", "call done", "stop true"]);
  } finally {
    await nc.close();
  }
});
