/**
 * The mission's second scenario: the order actor charges each order with the payment actor and
 * publishes OrderPlaced for a paid one, and the inventory actor takes each order's stock exactly
 * once. Product, payment, order and two inventory instances are served in-process with
 * `serveActor` (each on its own connection) against a real nats-server with JetStream; an
 * observer actor subscribes to the inventory's events, which the tests await. Retries, redrives,
 * a PlaceOrder that dies after the charge and two instances working on one order at once must
 * not charge or take stock twice.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createBillingActor } from "../../actors/billing/actor.ts";
import {
  type CheckpointAt,
  createInventoryActor,
  type InventoryCheckpoint,
} from "../../actors/inventory/actor.ts";
import { saleAdjustmentId } from "../../actors/inventory/reservations.ts";
import { chargeKeyOf, createOrderActor } from "../../actors/order/actor.ts";
import { openOrderStore } from "../../actors/order/order-store.ts";
import { createPaymentActor } from "../../actors/payment/actor.ts";
import { createProductActor } from "../../actors/product/actor.ts";
import { openCatalog } from "../../actors/product/catalog.ts";
import { type InvoiceCreated, InvoiceCreatedSchema } from "../../proto/gen/shop/v1/billing_pb.ts";
import {
  InventoryService,
  type OutOfStock,
  OutOfStockSchema,
  ReservationStatus,
  type StockAdjusted,
  StockAdjustedSchema,
  StockAdjustmentReason,
  type StockReserved,
  StockReservedSchema,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import type { Money } from "../../proto/gen/shop/v1/money_pb.ts";
import {
  CancelReason,
  type Order,
  OrderPlacedSchema,
  OrderService,
  OrderStatus,
  type PlaceOrderRequestSchema,
} from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentCapturedSchema, PaymentService, PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import {
  connect,
  createNatsTransport,
  defineActor,
  eventStreamName,
  onEvent,
  publishEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "../../runtime/mod.ts";
import { type NatsServer, startNatsServer } from "../../runtime/testing.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { deferred, eventually, withTimeout } from "../support/jetstream-test-kit.ts";
import { storedEvents } from "../support/stored-events.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "shop";
const STREAM = eventStreamName("shop.v1", NAMESPACE);
const ADDRESS = { name: "Ada Lovelace", lines: ["1 Analytical Way"], city: "London", countryCode: "GB" };

/** What was seen, in order; `next` finds the first entry (seen already or still to come) that matches. */
function recorder<T>(name: string) {
  const entries: T[] = [];
  const waiters = new Set<{ match: (entry: T) => boolean; resolve: (entry: T) => void }>();
  const next = (match: (entry: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> => {
    const seen = entries.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    const found = deferred<T>();
    const waiter = { match, resolve: found.resolve };
    waiters.add(waiter);
    return withTimeout(found.promise, timeoutMs, () => `${name}: no ${what}`).finally(() =>
      waiters.delete(waiter),
    );
  };
  return {
    entries,
    next,
    add(entry: T) {
      entries.push(entry);
      for (const waiter of [...waiters]) {
        if (!waiter.match(entry)) continue;
        waiters.delete(waiter);
        waiter.resolve(entry);
      }
    },
    /** Resolves once `count` entries (seen already or still to come) match. */
    async count(
      match: (entry: T) => boolean,
      count: number,
      what: string,
      timeoutMs = 20_000,
    ): Promise<void> {
      let matched = 0;
      await next((entry) => match(entry) && ++matched >= count, what, timeoutMs);
    },
  };
}

/** What an OrderPlaced needs for the inventory: an order as the order actor stores it, or made up. */
interface Placed {
  readonly id: string;
  readonly userId: string;
  readonly lines: readonly { readonly productId: string; readonly quantity: number }[];
  readonly total?: Money | undefined;
}

type InventoryEvent =
  | { readonly type: "StockAdjusted"; readonly message: StockAdjusted }
  | { readonly type: "StockReserved"; readonly message: StockReserved }
  | { readonly type: "OutOfStock"; readonly message: OutOfStock };

interface Mark {
  readonly instance: string;
  readonly point: InventoryCheckpoint;
  readonly at: CheckpointAt;
}

describe("order and inventory actors", () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let orders: Client<typeof OrderService>;
  let inventory: Client<typeof InventoryService>;
  let payments: Client<typeof PaymentService>;
  /** Orders whose updates the order store refuses while set (a PlaceOrder dying after the charge). */
  let blockUpdates = false;
  const blockedOrders = new Set<string>();

  /** The inventory's events, as the observer actor received them. */
  const events = recorder<InventoryEvent>("events");
  /** The billing actor's InvoiceCreated events. */
  const invoices = recorder<InvoiceCreated>("invoices");
  /** Every checkpoint each inventory instance passed. */
  const marks = recorder<Mark>("checkpoints");
  /** A test may hold an instance at a checkpoint. */
  let pause: ((mark: Mark) => Promise<void> | undefined) | undefined;

  const connection = async () => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };
  const serve = async (...args: Parameters<typeof serveActor>) => {
    const actor = await serveActor(...args);
    actors.push(actor);
    return actor;
  };
  const inventoryInstance = (instance: string) =>
    createInventoryActor({
      checkpoint: (point, at) => {
        const mark = { instance, point, at };
        marks.add(mark);
        return pause?.(mark);
      },
    });

  before(async () => {
    server = await startNatsServer();
    const options = { logger: silentLogger, namespace: NAMESPACE };
    await serve(
      await connection(),
      createProductActor({ catalog: (ctx) => openCatalog(ctx.nc, { namespace: ctx.namespace }) }),
      options,
    );
    await serve(await connection(), inventoryInstance("A"), options);
    await serve(await connection(), inventoryInstance("B"), options);
    await serve(await connection(), createPaymentActor(), options);
    await serve(await connection(), createBillingActor(), options);
    await serve(
      await connection(),
      createOrderActor({
        async store(ctx) {
          const store = await openOrderStore(ctx.nc, { namespace: ctx.namespace });
          return {
            ...store,
            update(id, fn) {
              if (!blockUpdates) return store.update(id, fn);
              blockedOrders.add(id);
              return Promise.reject(new Error(`test: the update of ${id} is lost`));
            },
          };
        },
        paymentCaptured: { retryDelayMs: 50 },
      }),
      options,
    );
    await serve(
      await connection(),
      defineActor({
        name: "observer",
        version: "1.0.0",
        description: "records the inventory's events",
        subscriptions: () => [
          onEvent(StockAdjustedSchema, (message) => events.add({ type: "StockAdjusted", message })),
          onEvent(StockReservedSchema, (message) => events.add({ type: "StockReserved", message })),
          onEvent(OutOfStockSchema, (message) => events.add({ type: "OutOfStock", message })),
          onEvent(InvoiceCreatedSchema, (message) => invoices.add(message)),
        ],
      }),
      options,
    );
    const nc = await connection();
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    const transport = createNatsTransport({ nc, namespace: NAMESPACE, timeoutMs: 15_000 });
    orders = createClient(OrderService, transport);
    inventory = createClient(InventoryService, transport);
    payments = createClient(PaymentService, transport);
  });

  after(async () => {
    pause = undefined;
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  const restock = async (productId: string, units: number) => {
    await inventory.adjustStock({
      adjustmentId: `restock-${productId}-${units}`,
      productId,
      delta: BigInt(units),
      reason: StockAdjustmentReason.RESTOCK,
    });
  };
  const stockOf = async (productId: string) => {
    const { stock } = await inventory.getStock({ productId });
    assert.ok(stock, `GetStock(${productId}) answers a level`);
    return {
      onHand: Number(stock.onHand),
      reserved: Number(stock.reserved),
      available: Number(stock.available),
    };
  };
  const placeOrder = (
    idempotencyKey: string,
    items: { productId: string; quantity: number }[],
    paymentMethodToken = "tok_visa",
  ) =>
    orders.placeOrder({ idempotencyKey, userId: "u-1", items, shippingAddress: ADDRESS, paymentMethodToken });

  /** Resolves with the StockAdjusted that sold the order's units of a product. */
  const sale = async (orderId: string, productId: string): Promise<StockAdjusted> => {
    const id = saleAdjustmentId(orderId, productId);
    const seen = await events.next(
      (e) => e.type === "StockAdjusted" && e.message.adjustmentId === id,
      `sale of ${productId} for ${orderId}`,
    );
    assert.ok(seen.type === "StockAdjusted");
    return seen.message;
  };

  /** Resolves once inventory instances finished handling `copies` OrderPlaced messages of the order. */
  const handled = (orderId: string, copies: number) =>
    marks.count(
      (m) => m.point === "done" && m.at.orderId === orderId,
      copies,
      `${copies} OrderPlaced of ${orderId} handled`,
    );
  /** Every OrderPlaced was handled and acknowledged: nothing more can change the stock. */
  const inventoryIdle = () =>
    eventually(async () => {
      const info = await jsm.consumers.info(STREAM, "inventory_OrderPlaced");
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, "the inventory acknowledged every OrderPlaced");

  /** The events stored under one key (the stream's own record, not what consumers saw). */
  const stored = <Desc extends DescMessage>(schema: Desc, key: string): Promise<MessageShape<Desc>[]> =>
    storedEvents(js, jsm, schema, key, NAMESPACE);
  /** How many SALE StockAdjusted the stream holds per order, for one product. */
  const salesIn = async (productId: string) => {
    const counts = new Map<string, number>();
    for (const event of await stored(StockAdjustedSchema, productId)) {
      if (event.reason !== StockAdjustmentReason.SALE) continue;
      counts.set(event.adjustmentId, (counts.get(event.adjustmentId) ?? 0) + 1);
    }
    return counts;
  };
  /** Publishes an order's OrderPlaced with message id `id`, as the order actor or a redrive would. */
  const republish = (order: Placed, id: string) =>
    publishEvent(
      js,
      OrderPlacedSchema,
      {
        orderId: order.id,
        userId: order.userId,
        lines: order.lines.map(({ productId, quantity }) => ({ productId, quantity })),
        ...(order.total === undefined ? {} : { total: order.total }),
      },
      { namespace: NAMESPACE, id },
    );

  let firstOrder: Order | undefined;

  test("a placed order is paid, announced once, and its stock taken once", TIMEOUT, async () => {
    await restock("p-1001", 10);
    await restock("p-1002", 5);
    const { order } = await placeOrder("first", [
      { productId: "p-1001", quantity: 2 },
      { productId: "p-1002", quantity: 1 },
      { productId: "p-1001", quantity: 1 },
    ]);
    assert.ok(order);
    firstOrder = order;
    assert.match(order.id, /^o-/);
    assert.equal(order.status, OrderStatus.PAID, "the charge was captured");
    assert.equal(order.cancelReason, CancelReason.UNSPECIFIED);
    assert.deepEqual(
      order.lines.map((l) => [
        l.productId,
        l.quantity,
        Number(l.unitPrice?.amountMinor),
        Number(l.lineTotal?.amountMinor),
      ]),
      [
        ["p-1001", 3, 2490, 7470],
        ["p-1002", 1, 2490, 2490],
      ],
      "items merged per product and priced by the product actor",
    );
    assert.equal(order.total?.amountMinor, 9960n);
    assert.equal(order.total?.currency, "EUR");
    assert.deepEqual((await orders.getOrder({ id: order.id })).order, order);
    const { payment } = await payments.getPayment({ id: order.paymentId });
    assert.equal(payment?.status, PaymentStatus.CAPTURED);
    assert.equal(payment?.orderId, order.id);
    assert.deepEqual([payment?.amount?.amountMinor, payment?.amount?.currency], [9960n, "EUR"], "the total");

    const [a, b] = await Promise.all([sale(order.id, "p-1001"), sale(order.id, "p-1002")]);
    assert.equal(a.delta, -3n);
    assert.equal(b.delta, -1n);
    await inventoryIdle();
    assert.deepEqual(await stockOf("p-1001"), { onHand: 7, reserved: 0, available: 7 });
    assert.deepEqual(await stockOf("p-1002"), { onHand: 4, reserved: 0, available: 4 });
    const placed = await stored(OrderPlacedSchema, order.id);
    assert.deepEqual(
      placed.map((e) => e.paymentId),
      [order.paymentId],
      "one OrderPlaced, naming the payment",
    );
    assert.equal((await stored(PaymentCapturedSchema, order.paymentId)).length, 1, "one PaymentCaptured");
    assert.deepEqual([...(await salesIn("p-1001")).values()], [1], "one sale event");
    await events.next((e) => e.type === "StockReserved" && e.message.orderId === order.id, "StockReserved");

    // Billing read the payment from a discovered payment instance and invoiced the order once.
    const invoice = await invoices.next((i) => i.orderId === order.id, `invoice of ${order.id}`);
    assert.deepEqual([invoice.total?.amountMinor, invoice.total?.currency], [9960n, "EUR"]);
    assert.equal((await stored(InvoiceCreatedSchema, invoice.invoiceId)).length, 1, "one InvoiceCreated");
  });

  test(
    "a retried PlaceOrder returns the first order: one order, one charge, one OrderPlaced, one decrement",
    TIMEOUT,
    async () => {
      await restock("p-1003", 20);
      const items = [{ productId: "p-1003", quantity: 4 }];
      const answers = await Promise.all([1, 2, 3].map(() => placeOrder("retried", items)));
      const later = await placeOrder("retried", items);
      const ids = new Set([...answers, later].map((a) => a.order?.id));
      assert.equal(ids.size, 1, "every call answers with the same order");
      const [id] = ids;
      assert.ok(id);
      const paymentIds = new Set([...answers, later].map((a) => a.order?.paymentId));
      assert.equal(paymentIds.size, 1, "and the same payment");
      const [paymentId] = paymentIds;
      assert.ok(paymentId);
      assert.equal((await stored(PaymentCapturedSchema, paymentId)).length, 1, "charged once");
      const { payment } = await payments.charge({
        idempotencyKey: chargeKeyOf(id),
        orderId: id,
        userId: "u-1",
        amount: later.order?.total,
        paymentMethodToken: "tok_visa",
      });
      assert.equal(payment?.id, paymentId, "the payment actor knows one charge for the order");

      await sale(id, "p-1003");
      await inventoryIdle();
      assert.equal((await stored(OrderPlacedSchema, id)).length, 1, "one OrderPlaced for four calls");
      assert.deepEqual(await stockOf("p-1003"), { onHand: 16, reserved: 0, available: 16 });

      const reused = await placeOrder("retried", [{ productId: "p-1003", quantity: 5 }]).catch(
        (e: unknown) => e,
      );
      assert.ok(reused instanceof ConnectError);
      assert.equal(reused.code, Code.AlreadyExists, "the key of another order");
    },
  );

  test(
    "PlaceOrder refuses what the contract calls invalid; GetOrder of an unknown id is not_found",
    TIMEOUT,
    async () => {
      const valid: MessageInitShape<typeof PlaceOrderRequestSchema> = {
        idempotencyKey: "invalid",
        userId: "u-1",
        items: [{ productId: "p-1001", quantity: 1 }],
        shippingAddress: ADDRESS,
        paymentMethodToken: "tok_visa",
      };
      const { shippingAddress: _, ...withoutAddress } = valid;
      const invalid: [string, MessageInitShape<typeof PlaceOrderRequestSchema>][] = [
        ["no items", { ...valid, items: [] }],
        ["quantity 0", { ...valid, items: [{ productId: "p-1001", quantity: 0 }] }],
        ["unknown product", { ...valid, items: [{ productId: "p-nope", quantity: 1 }] }],
        ["inactive product", { ...valid, items: [{ productId: "p-1012", quantity: 1 }] }],
        ["no idempotency key", { ...valid, idempotencyKey: "" }],
        ["no user", { ...valid, userId: "" }],
        ["no address", withoutAddress],
        ["no payment method token", { ...valid, paymentMethodToken: "" }],
        ["bad country code", { ...valid, shippingAddress: { ...ADDRESS, countryCode: "Britain" } }],
      ];
      for (const [what, request] of invalid) {
        const error = await orders.placeOrder(request).catch((e: unknown) => e);
        assert.ok(error instanceof ConnectError, what);
        assert.equal(error.code, Code.InvalidArgument, `${what}: ${error.rawMessage}`);
      }
      const missing = await orders.getOrder({ id: "o-missing" }).catch((e: unknown) => e);
      assert.ok(missing instanceof ConnectError);
      assert.equal(missing.code, Code.NotFound);
    },
  );

  test(
    "a declined payment cancels the order: PAYMENT_DECLINED, no OrderPlaced, stock untouched",
    TIMEOUT,
    async () => {
      await restock("p-1007", 6);
      const items = [{ productId: "p-1007", quantity: 2 }];
      const { order } = await placeOrder("declined", items, "tok_decline_insufficient_funds");
      assert.ok(order);
      assert.equal(order.status, OrderStatus.CANCELLED, "a decline is an outcome, not an error");
      assert.equal(order.cancelReason, CancelReason.PAYMENT_DECLINED);
      assert.notEqual(order.paymentId, "", "the attempted payment is named");
      const { payment } = await payments.getPayment({ id: order.paymentId });
      assert.equal(payment?.status, PaymentStatus.DECLINED);
      assert.equal(payment?.declineReason, "insufficient_funds");
      assert.deepEqual((await orders.getOrder({ id: order.id })).order, order);

      const retried = await placeOrder("declined", items, "tok_visa");
      assert.deepEqual(retried.order, order, "a retry answers the cancelled order and charges nothing");

      // A later order of the same product is paid and taken; the cancelled one never was.
      const { order: paid } = await placeOrder("after-declined", [{ productId: "p-1007", quantity: 1 }]);
      assert.equal(paid?.status, OrderStatus.PAID);
      assert.ok(paid);
      await sale(paid.id, "p-1007");
      await inventoryIdle();
      assert.equal((await stored(OrderPlacedSchema, order.id)).length, 0, "no OrderPlaced");
      assert.deepEqual(await stockOf("p-1007"), { onHand: 5, reserved: 0, available: 5 });
      assert.deepEqual(
        [...(await salesIn("p-1007")).keys()],
        [saleAdjustmentId(paid.id, "p-1007")],
        "only the paid order sold",
      );
    },
  );

  test(
    "a PlaceOrder that dies after the charge is completed by PaymentCaptured and its retry, once",
    TIMEOUT,
    async () => {
      await restock("p-1008", 9);
      const items = [{ productId: "p-1008", quantity: 4 }];
      blockUpdates = true;
      const lost = await connectErrorOf(placeOrder("dies-after-charge", items)).finally(() => {
        blockUpdates = false;
      });
      assert.equal(lost.code, Code.Internal, "the order could not record the payment");
      assert.equal(blockedOrders.size, 1);
      const [id] = blockedOrders;
      assert.ok(id);

      // No retry yet: the order actor follows PaymentCaptured and finishes the order itself.
      await eventually(
        async () => (await orders.getOrder({ id })).order?.status === OrderStatus.PAID,
        "the order was paid from PaymentCaptured",
      );
      const paid = (await orders.getOrder({ id })).order;
      assert.ok(paid);
      await sale(id, "p-1008");

      const retried = await placeOrder("dies-after-charge", items);
      assert.equal(retried.order?.id, id);
      assert.equal(retried.order?.status, OrderStatus.PAID);
      assert.equal(retried.order?.paymentId, paid.paymentId);
      await inventoryIdle();
      assert.equal((await stored(PaymentCapturedSchema, paid.paymentId)).length, 1, "charged once");
      assert.equal((await stored(OrderPlacedSchema, id)).length, 1, "announced once");
      assert.deepEqual(await stockOf("p-1008"), { onHand: 5, reserved: 0, available: 5 }, "taken once");
    },
  );

  test(
    "ImportStock sets absolute levels as they arrive and lists the messages it refused",
    TIMEOUT,
    async () => {
      await restock("p-import-held", 5);
      const held = await inventory.reserveStock({
        orderId: "import-hold",
        items: [{ productId: "p-import-held", quantity: 3n }],
      });
      assert.equal(held.status, ReservationStatus.RESERVED);
      async function* levels() {
        yield { productId: "p-import-a", onHand: 40n };
        yield { productId: "", onHand: 1n };
        yield { productId: "p-import-b", onHand: -1n };
        yield { productId: "p-import-b", onHand: 7n };
        yield { productId: "p-import-a", onHand: 40n };
        yield { productId: "p-import-held", onHand: 2n };
        yield { productId: "p-import-held", onHand: 4n };
      }
      const summary = await inventory.importStock(levels());
      assert.deepEqual(
        [summary.received, summary.updated, summary.unchanged],
        [7n, 3n, 1n],
        "a, b and held updated; the repeat of a unchanged",
      );
      assert.deepEqual(
        summary.failures.map((f) => [f.index, f.productId]),
        [
          [1n, ""],
          [2n, "p-import-b"],
          [5n, "p-import-held"],
        ],
      );
      assert.match(summary.failures[0]?.reason ?? "", /product_id is required/);
      assert.match(summary.failures[1]?.reason ?? "", /negative/);
      assert.match(summary.failures[2]?.reason ?? "", /below the 3 units reserved/);
      assert.deepEqual(await stockOf("p-import-a"), { onHand: 40, reserved: 0, available: 40 });
      assert.deepEqual(await stockOf("p-import-b"), { onHand: 7, reserved: 0, available: 7 });
      assert.deepEqual(await stockOf("p-import-held"), { onHand: 4, reserved: 3, available: 1 });
      const imported = await events.next(
        (e) =>
          e.type === "StockAdjusted" &&
          e.message.productId === "p-import-held" &&
          e.message.reason === StockAdjustmentReason.IMPORT,
        "StockAdjusted IMPORT",
      );
      assert.ok(imported.type === "StockAdjusted");
      assert.equal(imported.message.delta, -1n, "delta = new - old");

      const replay = await inventory.importStock(levels());
      assert.deepEqual(
        [replay.updated, replay.unchanged, replay.failures.length],
        [0n, 4n, 3],
        "replaying the stream changes nothing",
      );
    },
  );

  test(
    "an OrderPlaced delivered again (a redrive: a fresh message id) takes nothing more",
    TIMEOUT,
    async () => {
      const order = firstOrder;
      assert.ok(order, "the first test placed an order");
      await handled(order.id, 1);
      await republish(order, "redriven-1");
      await handled(order.id, 2);
      await inventoryIdle();
      assert.equal((await stored(OrderPlacedSchema, order.id)).length, 2, "the copy is in the stream");
      assert.deepEqual(await stockOf("p-1001"), { onHand: 7, reserved: 0, available: 7 });
      assert.deepEqual(await stockOf("p-1002"), { onHand: 4, reserved: 0, available: 4 });
      assert.deepEqual([...(await salesIn("p-1002")).values()], [1], "still one sale event");
    },
  );

  test(
    "an order the stock cannot cover takes nothing: OutOfStock for each short product",
    TIMEOUT,
    async () => {
      await restock("p-1005", 1);
      await restock("p-1006", 3);
      const { order } = await placeOrder("too-many", [
        { productId: "p-1005", quantity: 2 },
        { productId: "p-1006", quantity: 1 },
      ]);
      assert.ok(order);
      const short = await events.next(
        (e) => e.type === "OutOfStock" && e.message.orderId === order.id,
        "OutOfStock",
      );
      assert.ok(short.type === "OutOfStock");
      assert.deepEqual(
        [short.message.productId, short.message.requested, short.message.available],
        ["p-1005", 2n, 1n],
      );
      await handled(order.id, 1);
      await inventoryIdle();
      assert.deepEqual(await stockOf("p-1005"), { onHand: 1, reserved: 0, available: 1 });
      assert.deepEqual(
        await stockOf("p-1006"),
        { onHand: 3, reserved: 0, available: 3 },
        "the hold was given back",
      );
      assert.equal((await stored(OutOfStockSchema, "p-1006")).length, 0, "p-1006 was not short");
      assert.equal((await salesIn("p-1006")).size, 0, "nothing sold");
    },
  );

  test("GetStock, AdjustStock and ReserveStock as the contract says", TIMEOUT, async () => {
    assert.deepEqual(
      await stockOf("p-none"),
      { onHand: 0, reserved: 0, available: 0 },
      "never stocked: zeros",
    );
    const restockRpc = {
      adjustmentId: "rpc-restock",
      productId: "p-rpc",
      delta: 5n,
      reason: StockAdjustmentReason.RESTOCK,
    };
    const first = await inventory.adjustStock(restockRpc);
    const again = await inventory.adjustStock(restockRpc);
    assert.equal(first.stock?.onHand, 5n);
    assert.equal(again.stock?.onHand, 5n, "a retry answers the first result");
    assert.deepEqual(
      await stockOf("p-rpc"),
      { onHand: 5, reserved: 0, available: 5 },
      "and changes nothing again",
    );

    const codeOf = (call: Promise<unknown>) =>
      call.then(
        () => "ok",
        (e: unknown) => ConnectError.from(e).code,
      );
    assert.equal(await codeOf(inventory.adjustStock({ ...restockRpc, delta: 6n })), Code.AlreadyExists);
    assert.equal(
      await codeOf(
        inventory.adjustStock({
          ...restockRpc,
          adjustmentId: "rpc-damage",
          delta: -6n,
          reason: StockAdjustmentReason.DAMAGE,
        }),
      ),
      Code.FailedPrecondition,
      "on_hand would become negative",
    );
    assert.equal(
      await codeOf(inventory.adjustStock({ ...restockRpc, adjustmentId: "rpc-sign", delta: -1n })),
      Code.InvalidArgument,
    );
    assert.equal(
      await codeOf(inventory.adjustStock({ ...restockRpc, adjustmentId: "inventory:x" })),
      Code.InvalidArgument,
    );

    const reserve = { orderId: "rpc-order", items: [{ productId: "p-rpc", quantity: 3n }] };
    const reserved = await inventory.reserveStock(reserve);
    assert.equal(reserved.status, ReservationStatus.RESERVED);
    assert.ok(reserved.reservationId !== "" && reserved.expiresAt !== undefined);
    assert.equal(
      (await inventory.reserveStock(reserve)).reservationId,
      reserved.reservationId,
      "idempotent per order",
    );
    assert.deepEqual(await stockOf("p-rpc"), { onHand: 5, reserved: 3, available: 2 });

    const short = await inventory.reserveStock({
      orderId: "rpc-short",
      items: [
        { productId: "p-rpc", quantity: 3n },
        { productId: "p-none", quantity: 1n },
      ],
    });
    assert.equal(short.status, ReservationStatus.OUT_OF_STOCK);
    assert.deepEqual(
      short.shortages.map((s) => [s.productId, s.requested, s.available]),
      [
        ["p-none", 1n, 0n],
        ["p-rpc", 3n, 2n],
      ],
    );
    assert.deepEqual(await stockOf("p-rpc"), { onHand: 5, reserved: 3, available: 2 }, "all or nothing");

    const ship = {
      adjustmentId: "rpc-ship",
      productId: "p-rpc",
      delta: -3n,
      reason: StockAdjustmentReason.SALE,
      reservationId: reserved.reservationId,
    };
    assert.equal((await inventory.adjustStock(ship)).stock?.onHand, 2n);
    assert.equal((await inventory.adjustStock(ship)).stock?.onHand, 2n);
    assert.deepEqual(
      await stockOf("p-rpc"),
      { onHand: 2, reserved: 0, available: 2 },
      "the sale consumed the hold",
    );
    assert.equal(
      await codeOf(
        inventory.adjustStock({ ...ship, adjustmentId: "rpc-ship-2", reservationId: "rsv-unknown" }),
      ),
      Code.FailedPrecondition,
    );
  });

  test(
    "two instances: copies of one order handled at once, and many orders, take stock once per order",
    TIMEOUT,
    async () => {
      await restock("p-twice", 10);
      const order: Placed = { id: "o-twice", userId: "u-1", lines: [{ productId: "p-twice", quantity: 2 }] };

      // The first handler to hold the stock waits there until another handler finished the order.
      const first = deferred<Mark>();
      const otherDone = deferred();
      pause = (mark) => {
        if (mark.at.orderId !== order.id) return undefined;
        if (
          mark.point === "held" &&
          !marks.entries.some((m) => m !== mark && m.point === "held" && m.at.orderId === order.id)
        ) {
          first.resolve(mark);
          return otherDone.promise;
        }
        if (mark.point === "done") otherDone.resolve();
        return undefined;
      };
      await republish(order, "twice-1");
      const paused = await withTimeout(first.promise, 20_000, () => "no handler held o-twice");
      await republish(order, "twice-2");
      await handled(order.id, 2);
      assert.equal(paused.point, "held");
      assert.deepEqual(
        marks.entries.filter((m) => m.at.orderId === order.id).map((m) => m.point),
        ["received", "held", "received", "held", "decided", "sold", "done", "decided", "sold", "done"],
        "the second copy was handled in full while the first waited with its hold made",
      );
      assert.deepEqual(await stockOf("p-twice"), { onHand: 8, reserved: 0, available: 8 });
      assert.deepEqual([...(await salesIn("p-twice")).values()], [1]);
      pause = undefined;

      // Many orders, each published twice at once, over both instances.
      await restock("p-many-a", 1_000);
      await restock("p-many-b", 1_000);
      const many: Placed[] = Array.from({ length: 20 }, (_, i) => ({
        id: `o-many-${i}`,
        userId: "u-1",
        lines: [
          { productId: "p-many-a", quantity: i + 1 },
          { productId: "p-many-b", quantity: 1 },
        ],
      }));
      await Promise.all(many.flatMap((o) => [republish(o, `${o.id}-a`), republish(o, `${o.id}-b`)]));
      for (const o of many) await handled(o.id, 2);
      await inventoryIdle();
      assert.deepEqual(await stockOf("p-many-a"), { onHand: 1_000 - 210, reserved: 0, available: 790 });
      assert.deepEqual(await stockOf("p-many-b"), { onHand: 980, reserved: 0, available: 980 });
      const sales = await salesIn("p-many-a");
      assert.equal(sales.size, 20, "one sale per order");
      assert.ok(
        [...sales.values()].every((n) => n === 1),
        "each stored once",
      );
      const byInstance = new Set(
        marks.entries
          .filter((m) => m.point === "done" && m.at.orderId?.startsWith("o-many-"))
          .map((m) => m.instance),
      );
      assert.deepEqual([...byInstance].sort(), ["A", "B"], "both instances handled orders");
    },
  );
});
