/**
 * The order actor SIGKILLed in the middle of its orders (docs/adr/0019-order-saga.md): an order
 * process (tests/support/order-worker.ts) takes eight orders and stops for good at a different
 * step of each — after the reservation, before the charge, after the charge, after the sale,
 * after the announcement — and is killed there. A second order instance then takes over:
 *
 * - four orders are retried by their client at once with the same key: each ends PAID;
 * - four are not retried: the two that were charged end PAID from PaymentCaptured (redelivered
 *   once the dead instance's ack wait passed), the two that were not end CANCELLED ABANDONED by
 *   the pending sweep, their stock given back and nothing charged.
 *
 * Whatever the path: one capture per PAID order and none for the others, one OrderPlaced per
 * PAID order, and every product's stock down by exactly what the PAID orders bought.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { type Client, createClient } from "@connectrpc/connect";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  defineActor,
  onEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createInventoryActor } from "../../actors/inventory/actor.ts";
import { chargeKeyOf, createOrderActor } from "../../actors/order/actor.ts";
import { createPaymentActor } from "../../actors/payment/actor.ts";
import { productActor } from "../../actors/product/actor.ts";
import { seedStock } from "../../actors/shared/seed-products.ts";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import {
  CancelReason,
  type Order,
  OrderPlacedSchema,
  OrderService,
  OrderStatus,
} from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentCapturedSchema, PaymentSchema } from "../../proto/gen/shop/v1/payment_pb.ts";
import { storesOn } from "../support/actor-hooks.ts";
import { type ActorProcess, startActorProcess } from "../support/actor-process.ts";
import { eventually, withTimeout } from "../support/jetstream-test-kit.ts";
import type { OrderStep } from "../support/order-steps.ts";
import { storedEvents } from "../support/stored-events.ts";

const ADDRESS = { name: "Ada Lovelace", lines: ["1 Analytical Way"], city: "London", countryCode: "GB" };
const ABANDON_AFTER_MS = 8_000;

interface Case {
  readonly productId: string;
  readonly step: OrderStep["step"];
  readonly retried: boolean;
  /** What the order ends as. */
  readonly expect: OrderStatus;
}

const CASES: readonly Case[] = [
  { productId: "p-1001", step: "reserved", retried: true, expect: OrderStatus.PAID },
  { productId: "p-1002", step: "charged", retried: true, expect: OrderStatus.PAID },
  { productId: "p-1003", step: "sold", retried: true, expect: OrderStatus.PAID },
  { productId: "p-1004", step: "announced", retried: true, expect: OrderStatus.PAID },
  { productId: "p-1005", step: "charging", retried: false, expect: OrderStatus.CANCELLED },
  { productId: "p-1006", step: "reserved", retried: false, expect: OrderStatus.CANCELLED },
  { productId: "p-1007", step: "charged", retried: false, expect: OrderStatus.PAID },
  { productId: "p-1008", step: "sold", retried: false, expect: OrderStatus.PAID },
];
const QUANTITY = 2;

let server: NatsServer | undefined;
let worker: ActorProcess | undefined;
const actors: RunningActor[] = [];
const connections: NatsConnection[] = [];

after(async () => {
  await worker?.kill();
  for (const actor of actors) await actor.drain(0);
  for (const nc of connections) await nc.close();
  await server?.dispose();
});

test("an order instance SIGKILLed mid-saga: every order ends PAID or CANCELLED, charged and taken once", {
  timeout: 120_000,
}, async () => {
  const nats = await startNatsServer();
  server = nats;
  const connection = async () => {
    const nc = await connect({ servers: nats.url });
    connections.push(nc);
    return nc;
  };
  const serve = async (actor: Parameters<typeof serveActor>[1]) => {
    actors.push(await serveActor(await connection(), actor, { logger: silentLogger }));
  };
  await serve(productActor);
  await serve(createInventoryActor());
  await serve(createPaymentActor());
  const placed = new Set<string>();
  const captured = new Set<string>();
  actors.push(
    await serveActor(
      await connection(),
      defineActor({
        name: "observer",
        version: "1.0.0",
        description: "records OrderPlaced and PaymentCaptured",
        consumes: { events: [OrderPlacedSchema, PaymentCapturedSchema] },
        subscriptions: () => [
          onEvent(OrderPlacedSchema, (e) => void placed.add(e.orderId)),
          onEvent(PaymentCapturedSchema, (e) => void captured.add(e.orderId)),
        ],
      }),
      { logger: silentLogger },
    ),
  );
  const nc = await connection();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const transport = createNatsTransport({ nc, timeoutMs: 15_000 });
  const inventory: Client<typeof InventoryService> = createClient(InventoryService, transport);
  const orders: Client<typeof OrderService> = createClient(OrderService, transport);
  const charges = await storesOn(nc).state("payment_charges", PaymentSchema);
  const seeded = new Map(seedStock().map((s) => [s.productId, Number(s.onHand)]));

  worker = await startActorProcess({
    runtime: "bun",
    file: "tests/support/order-worker.ts",
    natsUrl: server.url,
    env: { ORDER_PAUSES: JSON.stringify(CASES.map(({ productId, step }) => ({ productId, step }))) },
  });
  const place = (c: Case) =>
    orders.placeOrder({
      idempotencyKey: `crash-${c.productId}`,
      userId: "u-1",
      items: [{ productId: c.productId, quantity: QUANTITY }],
      shippingAddress: ADDRESS,
      paymentMethodToken: "tok_visa",
    });
  // Each call stops in the worker and never answers; it fails when the worker is killed.
  const firstCalls = CASES.map((c) => place(c).catch(() => undefined));
  const running = worker;
  const orderIdOf = new Map<string, string>();
  await withTimeout(
    Promise.all(
      CASES.map(async (c) => {
        const line = await running.waitForLog(`paused ${c.productId}`);
        orderIdOf.set(c.productId, String(line.orderId));
      }),
    ),
    30_000,
    () => `the worker did not stop in every order: ${running.output().slice(-4000)}`,
  );
  assert.deepEqual(await worker.kill(), { code: null, signal: "SIGKILL" });
  await Promise.all(firstCalls);

  actors.push(
    await serveActor(
      await connection(),
      createOrderActor({ abandonAfterMs: ABANDON_AFTER_MS, pendingSweepMs: 200 }),
      { logger: silentLogger },
    ),
  );
  const answers = new Map<string, Order | undefined>();
  for (const c of CASES.filter((c) => c.retried)) answers.set(c.productId, (await place(c)).order);

  const orderOf = async (c: Case) => {
    const id = orderIdOf.get(c.productId);
    assert.ok(id, `the order of ${c.productId}`);
    const { order } = await orders.getOrder({ id });
    assert.ok(order);
    return order;
  };
  await eventually(
    async () => (await Promise.all(CASES.map(orderOf))).every((o) => o.status !== OrderStatus.PENDING),
    "every order settled",
    40_000,
  );

  for (const c of CASES) {
    const order = await orderOf(c);
    const what = `${c.productId} (stopped at ${c.step}, ${c.retried ? "retried" : "not retried"})`;
    assert.equal(order.status, c.expect, what);
    if (c.retried)
      assert.equal(answers.get(c.productId)?.id, order.id, `${what}: the retry answers its order`);
    const isCharged = (await charges.get(stateKeyOf(chargeKeyOf(order.id)))) !== undefined;
    if (c.expect === OrderStatus.PAID) {
      assert.ok(isCharged, what);
      assert.equal(
        (await storedEvents(js, jsm, PaymentCapturedSchema, order.paymentId, "")).length,
        1,
        `${what}: one capture`,
      );
      await eventually(async () => placed.has(order.id), `${what}: OrderPlaced`);
      assert.equal(
        (await storedEvents(js, jsm, OrderPlacedSchema, order.id, "")).length,
        1,
        `${what}: one OrderPlaced`,
      );
    } else {
      assert.equal(order.cancelReason, CancelReason.ABANDONED, what);
      assert.equal(isCharged, false, `${what}: never charged`);
      assert.ok(!captured.has(order.id), `${what}: no PaymentCaptured`);
    }
    const { stock } = await inventory.getStock({ productId: c.productId });
    const before = seeded.get(c.productId) ?? 0;
    const sold = c.expect === OrderStatus.PAID ? QUANTITY : 0;
    assert.deepEqual([Number(stock?.onHand), Number(stock?.reserved)], [before - sold, 0], `${what}: stock`);
  }
});
