/**
 * The inventory's OrderPlaced consumer SIGKILLed in the middle of its orders: an inventory
 * process (tests/support/order-inventory-worker.ts) takes every order and stops for good at a
 * different point of each — before any write, between the holds, after the reservation is
 * decided, between a product's write and its index entry, between the sales, after the events
 * and before the ack — and is killed there. Once the ack wait has passed, a second instance gets
 * every order again and finishes it; the stock must show exactly one decrement per order.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type CheckpointAt,
  createInventoryActor,
  type InventoryCheckpoint,
} from "../../actors/inventory/actor.ts";
import { saleAdjustmentId } from "../../actors/inventory/reservations.ts";
import {
  InventoryService,
  type StockAdjusted,
  StockAdjustedSchema,
  StockAdjustmentReason,
  StockReservedSchema,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import { OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import {
  connect,
  createNatsTransport,
  eventStreamName,
  eventSubject,
  publishEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "../../runtime/mod.ts";
import { type NatsServer, startNatsServer } from "../../runtime/testing.ts";
import { type ActorProcess, startActorProcess } from "../support/actor-process.ts";
import { createTally, eventually, withTimeout } from "../support/jetstream-test-kit.ts";

const ACK_WAIT_MS = 1_000;
const STREAM = eventStreamName("shop.v1");
const INITIAL = 10_000;
/** Where the worker stops, in the order the handler passes them; two orders stop at each. */
const POINTS: readonly InventoryCheckpoint[] = ["received", "held", "decided", "written", "sold", "done"];
const ORDERS = POINTS.flatMap((point, p) =>
  [0, 1].map((n) => ({
    id: `o-${point}-${n}`,
    point,
    // Distinct quantities of p-a, so that a missing or doubled decrement shows in the sum.
    a: 2 ** (2 * p + n),
    b: 1,
  })),
);

let server: NatsServer | undefined;
let worker: ActorProcess | undefined;
let survivor: RunningActor | undefined;
const connections: NatsConnection[] = [];

after(async () => {
  await worker?.kill();
  await survivor?.drain(0);
  for (const nc of connections) await nc.close();
  await server?.dispose();
});

test("an inventory instance SIGKILLed mid-order: another finishes every order, each decremented once", {
  timeout: 90_000,
}, async () => {
  server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  connections.push(nc);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const inventory: Client<typeof InventoryService> = createClient(
    InventoryService,
    createNatsTransport({ nc, timeoutMs: 10_000 }),
  );
  const stockOf = async (productId: string) => {
    const { stock } = await inventory.getStock({ productId });
    return { onHand: Number(stock?.onHand), reserved: Number(stock?.reserved) };
  };
  const sum = (orders: typeof ORDERS, product: "a" | "b") =>
    orders.reduce((total, o) => total + o[product], 0);
  const at = (...points: InventoryCheckpoint[]) => ORDERS.filter((o) => points.includes(o.point));

  worker = await startActorProcess({
    runtime: "bun",
    file: "tests/support/order-inventory-worker.ts",
    natsUrl: server.url,
    env: {
      ORDER_INVENTORY_ACK_WAIT_MS: String(ACK_WAIT_MS),
      ORDER_INVENTORY_PAUSES: JSON.stringify(
        ORDERS.map((o) => ({
          orderId: o.id,
          point: o.point,
          ...(o.point === "received" || o.point === "decided" || o.point === "done"
            ? {}
            : { productId: "p-a" }),
        })),
      ),
    },
  });
  for (const productId of ["p-a", "p-b"]) {
    await inventory.adjustStock({
      adjustmentId: `restock-${productId}`,
      productId,
      delta: BigInt(INITIAL),
      reason: StockAdjustmentReason.RESTOCK,
    });
  }
  for (const order of ORDERS) {
    await publishEvent(
      js,
      OrderPlacedSchema,
      {
        orderId: order.id,
        userId: "u-1",
        lines: [
          { productId: "p-b", quantity: order.b },
          { productId: "p-a", quantity: order.a },
        ],
      },
      { id: order.id },
    );
  }
  const running = worker;
  await withTimeout(
    Promise.all(ORDERS.map((o) => running.waitForLog(`paused ${o.id}`))),
    30_000,
    () => `the worker did not stop in every order: ${running.output().slice(-4000)}`,
  );

  // What the worker did before it stopped: each order as far as its point, no further.
  assert.deepEqual(await stockOf("p-a"), {
    onHand: INITIAL - sum(at("written", "sold", "done"), "a"),
    reserved: sum(at("held", "decided"), "a"),
  });
  assert.deepEqual(await stockOf("p-b"), {
    onHand: INITIAL - sum(at("done"), "b"),
    reserved: sum(at("decided", "written", "sold"), "b"),
  });

  assert.deepEqual(await worker.kill(), { code: null, signal: "SIGKILL" });

  const received = new Map<string, number[]>();
  const done = createTally("survivor done");
  const record = (point: InventoryCheckpoint, where: CheckpointAt) => {
    const orderId = where.orderId ?? "";
    if (point === "received")
      received.set(orderId, [...(received.get(orderId) ?? []), where.deliveryCount ?? 0]);
    if (point === "done") done.add(orderId);
  };
  const survivorNc = await connect({ servers: server.url });
  connections.push(survivorNc);
  survivor = await serveActor(
    survivorNc,
    createInventoryActor({ orderPlaced: { ackWaitMs: ACK_WAIT_MS }, checkpoint: record }),
    { logger: silentLogger },
  );
  await done.reached(ORDERS.length, 30_000);
  await eventually(async () => {
    const info = await jsm.consumers.info(STREAM, "inventory_OrderPlaced");
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, "every OrderPlaced is acknowledged");

  assert.deepEqual(
    Object.fromEntries(received),
    Object.fromEntries(ORDERS.map((o) => [o.id, [2]])),
    "the survivor got each order once, as its second delivery",
  );
  assert.equal(done.distinct.size, ORDERS.length);
  assert.deepEqual(await stockOf("p-a"), { onHand: INITIAL - sum(ORDERS, "a"), reserved: 0 });
  assert.deepEqual(await stockOf("p-b"), { onHand: INITIAL - sum(ORDERS, "b"), reserved: 0 });

  // The stream holds each order's sale of each product once: none lost, none repeated.
  for (const productId of ["p-a", "p-b"]) {
    const sales = new Map<string, number>();
    for (const event of await storedEvents(productId)) {
      if (event.reason === StockAdjustmentReason.SALE) {
        sales.set(event.adjustmentId, (sales.get(event.adjustmentId) ?? 0) + 1);
      }
    }
    assert.deepEqual(
      Object.fromEntries(sales),
      Object.fromEntries(ORDERS.map((o) => [saleAdjustmentId(o.id, productId), 1])),
      `one SALE StockAdjusted per order for ${productId}`,
    );
  }
  for (const order of ORDERS) {
    const subject = eventSubject(StockReservedSchema, order.id);
    const info = await jsm.streams.info(STREAM, { subjects_filter: subject });
    assert.equal(info.state.subjects?.[subject], 1, `one StockReserved for ${order.id}`);
  }

  async function storedEvents(productId: string) {
    const subject = eventSubject(StockAdjustedSchema, productId);
    const info = await jsm.streams.info(STREAM, { subjects_filter: subject });
    const count = info.state.subjects?.[subject] ?? 0;
    const consumer = await js.consumers.get(STREAM, { filter_subjects: subject });
    const events: StockAdjusted[] = [];
    for await (const msg of await consumer.fetch({ max_messages: count, expires: 5_000 })) {
      events.push(fromBinary(StockAdjustedSchema, msg.data));
      if (events.length === count) break;
    }
    assert.equal(events.length, count, `read every event on ${subject}`);
    return events;
  }
});
