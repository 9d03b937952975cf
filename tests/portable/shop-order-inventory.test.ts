/**
 * The order saga on a fresh shop (docs/adr/0019-order-saga.md): the inventory is stocked from
 * the seed the catalogue starts from, PlaceOrder reserves the stock before it charges, sells the
 * reservation after the capture and releases it after a decline, and the catalogue's
 * availability follows the inventory. Product, two inventory instances, payment, billing and
 * order are served in-process against a real nats-server (tests/support/shop-fixture.ts); an
 * observer records every event, which the tests await. Also InventoryService's own contract:
 * GetStock, AdjustStock, ReserveStock, SellReservation, ReleaseReservation and ImportStock.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { saleAdjustmentId } from "../../actors/inventory/reservations.ts";
import { chargeKeyOf } from "../../actors/order/actor.ts";
import {
  ReservationStatus,
  StockAdjustedSchema,
  StockAdjustmentReason,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import {
  CancelReason,
  OrderCancelledSchema,
  OrderPlacedSchema,
  OrderStatus,
  type PlaceOrderRequestSchema,
} from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentCapturedSchema, PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { eventually } from "../support/jetstream-test-kit.ts";
import type { OrderStep } from "../support/order-steps.ts";
import { ADDRESS, type ShopFixture, startShopFixture } from "../support/shop-fixture.ts";

const TIMEOUT = { timeout: 60_000 };

describe("order saga on a fresh shop", () => {
  let shop: ShopFixture;
  /** What a test does at a step of the order actor (order-steps.ts). */
  let atStep: ((step: OrderStep) => void | Promise<void>) | undefined;

  before(async () => {
    shop = await startShopFixture({ step: (step) => atStep?.(step) });
  });
  after(async () => {
    atStep = undefined;
    await shop?.close();
  });

  const placeOrder = (
    idempotencyKey: string,
    items: { productId: string; quantity: number }[],
    paymentMethodToken = "tok_visa",
  ) =>
    shop.orders.placeOrder({
      idempotencyKey,
      userId: "u-1",
      items,
      shippingAddress: ADDRESS,
      paymentMethodToken,
    });
  const available = async (productId: string) =>
    Number((await shop.products.getProduct({ id: productId })).product?.available);
  const saleOf = (orderId: string, productId: string) =>
    shop.events.stock.next(
      (e) => e.adjustmentId === saleAdjustmentId(orderId, productId),
      `sale of ${productId} for ${orderId}`,
    );

  test(
    "an order for a catalogue product takes its stock once, and the catalogue's availability follows",
    TIMEOUT,
    async () => {
      assert.equal(await available("p-1001"), 140, "the catalogue's seed");
      assert.deepEqual(await shop.stockOf("p-1001"), [140, 0, 140], "the inventory's, from the same seed");
      assert.deepEqual(await shop.stockOf("p-1002"), [95, 0, 95]);

      const { order } = await placeOrder("first", [
        { productId: "p-1001", quantity: 2 },
        { productId: "p-1002", quantity: 1 },
        { productId: "p-1001", quantity: 1 },
      ]);
      assert.ok(order);
      assert.match(order.id, /^o-/);
      assert.equal(order.status, OrderStatus.PAID, "captured and sold");
      assert.equal(order.cancelReason, CancelReason.UNSPECIFIED);
      assert.match(order.reservationId, /^rsv-/);
      assert.deepEqual(
        order.lines.map((l) => [l.productId, l.quantity, Number(l.unitPrice?.amountMinor)]),
        [
          ["p-1001", 3, 2490],
          ["p-1002", 1, 2490],
        ],
        "items merged per product and priced by the product actor",
      );
      assert.deepEqual([order.total?.amountMinor, order.total?.currency], [9960n, "EUR"]);
      assert.deepEqual((await shop.orders.getOrder({ id: order.id })).order, order);
      const { payment } = await shop.payments.getPayment({ id: order.paymentId });
      assert.equal(payment?.status, PaymentStatus.CAPTURED);

      // The stock is taken when PlaceOrder answers: PAID means sold.
      assert.deepEqual(await shop.stockOf("p-1001"), [137, 0, 137]);
      assert.deepEqual(await shop.stockOf("p-1002"), [94, 0, 94]);
      assert.equal((await saleOf(order.id, "p-1001")).delta, -3n);
      assert.equal((await saleOf(order.id, "p-1002")).delta, -1n);
      await shop.events.reserved.next((e) => e.orderId === order.id, "StockReserved");
      await eventually(async () => (await available("p-1001")) === 137, "the catalogue shows 137");
      await eventually(async () => (await available("p-1002")) === 94, "the catalogue shows 94");

      await shop.events.placed.next((e) => e.orderId === order.id, "OrderPlaced");
      const placed = await shop.stored(OrderPlacedSchema, order.id);
      assert.deepEqual(
        placed.map((e) => e.paymentId),
        [order.paymentId],
        "one OrderPlaced, naming the payment",
      );
      assert.equal((await shop.stored(PaymentCapturedSchema, order.paymentId)).length, 1, "charged once");
      const invoice = await shop.events.invoices.next((i) => i.orderId === order.id, "the invoice");
      assert.equal(invoice.total?.amountMinor, 9960n);
      assert.equal((await shop.stored(OrderCancelledSchema, order.id)).length, 0);
    },
  );

  test(
    "a retried PlaceOrder returns the first order: one order, one charge, one sale, one OrderPlaced",
    TIMEOUT,
    async () => {
      const items = [{ productId: "p-1003", quantity: 4 }];
      const answers = await Promise.all([1, 2, 3].map(() => placeOrder("retried", items)));
      const later = await placeOrder("retried", items);
      const orders = [...answers, later].map((a) => a.order);
      assert.equal(new Set(orders.map((o) => o?.id)).size, 1, "every call answers with the same order");
      assert.equal(new Set(orders.map((o) => o?.paymentId)).size, 1, "and the same payment");
      assert.ok(orders.every((o) => o?.status === OrderStatus.PAID));
      const id = later.order?.id;
      assert.ok(id);
      const { payment } = await shop.payments.charge({
        idempotencyKey: chargeKeyOf(id),
        orderId: id,
        userId: "u-1",
        amount: later.order?.total,
        paymentMethodToken: "tok_visa",
      });
      assert.equal(payment?.id, later.order?.paymentId, "the payment actor knows one charge for the order");
      assert.ok(payment);
      assert.equal((await shop.stored(PaymentCapturedSchema, payment.id)).length, 1, "charged once");
      assert.deepEqual(await shop.stockOf("p-1003"), [28, 0, 28], "taken once");
      await shop.events.placed.next((e) => e.orderId === id, "OrderPlaced");
      assert.equal((await shop.stored(OrderPlacedSchema, id)).length, 1, "one OrderPlaced for four calls");

      const reused = await connectErrorOf(placeOrder("retried", [{ productId: "p-1003", quantity: 5 }]));
      assert.equal(reused.code, Code.AlreadyExists, "the key of another order");
    },
  );

  test(
    "an order for more than the stock is refused without a charge: OUT_OF_STOCK, nothing held",
    TIMEOUT,
    async () => {
      const items = [
        { productId: "p-1004", quantity: 19 },
        { productId: "p-1006", quantity: 1 },
      ];
      const { order } = await placeOrder("too-many", items);
      assert.ok(order);
      assert.equal(order.status, OrderStatus.CANCELLED, "short stock is an outcome, not an error");
      assert.equal(order.cancelReason, CancelReason.OUT_OF_STOCK);
      assert.equal(order.paymentId, "", "no charge was attempted");
      assert.equal(await shop.charged(order.id), false, "the payment actor has no charge for it");

      const short = await shop.events.outOfStock.next((e) => e.orderId === order.id, "OutOfStock");
      assert.deepEqual([short.productId, short.requested, short.available], ["p-1004", 19n, 18n]);
      const cancelled = await shop.events.cancelled.next((e) => e.orderId === order.id, "OrderCancelled");
      assert.equal(cancelled.reason, CancelReason.OUT_OF_STOCK);
      assert.deepEqual(await shop.stockOf("p-1004"), [18, 0, 18]);
      assert.deepEqual(await shop.stockOf("p-1006"), [9, 0, 9], "the hold of p-1006 was given back");

      const retried = await placeOrder("too-many", items);
      assert.deepEqual(retried.order, order, "a retry answers the cancelled order");
      assert.equal(await shop.charged(order.id), false, "and charges nothing");
      assert.ok(!shop.events.captured.entries.some((e) => e.orderId === order.id), "no PaymentCaptured");
      assert.equal((await shop.stored(OrderPlacedSchema, order.id)).length, 0, "no OrderPlaced");
    },
  );

  test("a declined card cancels the order and releases its reservation", TIMEOUT, async () => {
    const items = [{ productId: "p-1007", quantity: 2 }];
    const { order } = await placeOrder("declined", items, "tok_decline_insufficient_funds");
    assert.ok(order);
    assert.equal(order.status, OrderStatus.CANCELLED, "a decline is an outcome, not an error");
    assert.equal(order.cancelReason, CancelReason.PAYMENT_DECLINED);
    const { payment } = await shop.payments.getPayment({ id: order.paymentId });
    assert.equal(payment?.status, PaymentStatus.DECLINED);
    assert.equal(payment?.declineReason, "insufficient_funds");
    await shop.events.stock.next(
      (e) =>
        e.productId === "p-1007" && e.adjustmentId.startsWith(`inventory:release:${order.reservationId}`),
      "the release of the hold",
    );
    assert.deepEqual(await shop.stockOf("p-1007"), [57, 0, 57], "the stock is back");
    const cancelled = await shop.events.cancelled.next((e) => e.orderId === order.id, "OrderCancelled");
    assert.deepEqual(
      [cancelled.reason, cancelled.paymentId],
      [CancelReason.PAYMENT_DECLINED, order.paymentId],
    );

    const retried = await placeOrder("declined", items, "tok_visa");
    assert.deepEqual(retried.order, order, "a retry answers the cancelled order and charges nothing");
    const { order: paid } = await placeOrder("after-declined", [{ productId: "p-1007", quantity: 1 }]);
    assert.equal(paid?.status, OrderStatus.PAID);
    assert.deepEqual(await shop.stockOf("p-1007"), [56, 0, 56], "only the paid order sold");
  });

  test(
    "a capture whose sale is refused is refunded and the order cancelled, with events",
    TIMEOUT,
    async () => {
      // The reservation goes between the reservation and the charge, as an expiry would: the
      // charge is captured, and the sale then finds the reservation released.
      let armed = true;
      atStep = async ({ step, orderId }) => {
        if (step !== "charging" || !armed) return;
        armed = false;
        await shop.inventory.releaseReservation({ orderId });
      };
      const { order } = await placeOrder("sale-refused", [{ productId: "p-1011", quantity: 2 }]).finally(
        () => {
          atStep = undefined;
        },
      );
      assert.ok(order);
      assert.equal(armed, false);
      assert.equal(order.status, OrderStatus.CANCELLED);
      assert.equal(order.cancelReason, CancelReason.RESERVATION_EXPIRED);
      assert.notEqual(order.paymentId, "");
      assert.match(order.refundId, /^rf-/);
      const { payment } = await shop.payments.getPayment({ id: order.paymentId });
      assert.equal(payment?.status, PaymentStatus.REFUNDED, "the money went back");
      assert.equal(payment?.refundedAmount?.amountMinor, order.total?.amountMinor);

      const refunded = await shop.events.refunded.next((e) => e.orderId === order.id, "PaymentRefunded");
      assert.deepEqual([refunded.refundId, refunded.fullyRefunded], [order.refundId, true]);
      const cancelled = await shop.events.cancelled.next((e) => e.orderId === order.id, "OrderCancelled");
      assert.deepEqual(
        [cancelled.reason, cancelled.paymentId, cancelled.refundId],
        [CancelReason.RESERVATION_EXPIRED, order.paymentId, order.refundId],
      );
      assert.deepEqual(await shop.stockOf("p-1011"), [6, 0, 6], "nothing taken");
      assert.equal((await shop.stored(OrderPlacedSchema, order.id)).length, 0);
      const retried = await placeOrder("sale-refused", [{ productId: "p-1011", quantity: 2 }]);
      assert.equal(retried.order?.refundId, order.refundId, "a retry refunds nothing again");
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
        ["no user, and no identity (an internal call)", { ...valid, userId: "" }],
        ["no address", withoutAddress],
        ["no payment method token", { ...valid, paymentMethodToken: "" }],
        ["bad country code", { ...valid, shippingAddress: { ...ADDRESS, countryCode: "Britain" } }],
      ];
      for (const [what, request] of invalid) {
        const error = await connectErrorOf(shop.orders.placeOrder(request));
        assert.equal(error.code, Code.InvalidArgument, `${what}: ${error.rawMessage}`);
      }
      assert.equal((await connectErrorOf(shop.orders.getOrder({ id: "o-missing" }))).code, Code.NotFound);
    },
  );

  test(
    "many orders at once over two inventory instances take the stock once per order",
    TIMEOUT,
    async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          placeOrder(`many-${i}`, [
            { productId: "p-1008", quantity: i + 1 },
            { productId: "p-1009", quantity: 1 },
          ]),
        ),
      );
      assert.ok(answers.every((a) => a.order?.status === OrderStatus.PAID));
      assert.deepEqual(await shop.stockOf("p-1008"), [230 - 210, 0, 20]);
      assert.deepEqual(await shop.stockOf("p-1009"), [75 - 20, 0, 55]);
      const sales = new Map<string, number>();
      for (const event of await shop.stored(StockAdjustedSchema, "p-1008")) {
        if (event.reason === StockAdjustmentReason.SALE)
          sales.set(event.adjustmentId, (sales.get(event.adjustmentId) ?? 0) + 1);
      }
      assert.equal(sales.size, 20, "one sale per order");
      assert.ok(
        [...sales.values()].every((n) => n === 1),
        "each stored once",
      );
      await eventually(async () => (await available("p-1008")) === 20, "the catalogue shows 20");
    },
  );

  test(
    "GetStock, AdjustStock, ReserveStock, SellReservation and ReleaseReservation as the contract says",
    TIMEOUT,
    async () => {
      const { inventory } = shop;
      assert.deepEqual(await shop.stockOf("p-none"), [0, 0, 0], "never stocked: zeros");
      const restock = {
        adjustmentId: "rpc-restock",
        productId: "p-rpc",
        delta: 5n,
        reason: StockAdjustmentReason.RESTOCK,
      };
      assert.equal((await inventory.adjustStock(restock)).stock?.onHand, 5n);
      assert.equal(
        (await inventory.adjustStock(restock)).stock?.onHand,
        5n,
        "a retry answers the first result",
      );
      assert.deepEqual(await shop.stockOf("p-rpc"), [5, 0, 5], "and changes nothing again");
      const codeOf = (call: Promise<unknown>) =>
        call.then(
          () => "ok",
          (e: unknown) => ConnectError.from(e).code,
        );
      assert.equal(await codeOf(inventory.adjustStock({ ...restock, delta: 6n })), Code.AlreadyExists);
      assert.equal(
        await codeOf(inventory.adjustStock({ ...restock, adjustmentId: "rpc-sign", delta: -1n })),
        Code.InvalidArgument,
      );
      assert.equal(
        await codeOf(inventory.adjustStock({ ...restock, adjustmentId: "inventory:x" })),
        Code.InvalidArgument,
      );

      const reserve = { orderId: "rpc-order", items: [{ productId: "p-rpc", quantity: 3n }] };
      const reserved = await inventory.reserveStock(reserve);
      assert.equal(reserved.status, ReservationStatus.RESERVED);
      assert.equal(
        (await inventory.reserveStock(reserve)).reservationId,
        reserved.reservationId,
        "idempotent",
      );
      assert.deepEqual(await shop.stockOf("p-rpc"), [5, 3, 2]);
      const damage = {
        adjustmentId: "rpc-damage",
        productId: "p-rpc",
        delta: -3n,
        reason: StockAdjustmentReason.DAMAGE,
      };
      assert.equal(await codeOf(inventory.adjustStock(damage)), Code.FailedPrecondition, "3 of 5 are held");
      assert.equal(
        (await inventory.adjustStock({ ...damage, delta: -2n })).stock?.onHand,
        3n,
        "the 2 free ones",
      );

      const short = await inventory.reserveStock({
        orderId: "rpc-short",
        items: [
          { productId: "p-none", quantity: 1n },
          { productId: "p-rpc", quantity: 3n },
        ],
      });
      assert.equal(short.status, ReservationStatus.OUT_OF_STOCK);
      assert.deepEqual(
        short.shortages.map((s) => [s.productId, s.requested, s.available]),
        [
          ["p-none", 1n, 0n],
          ["p-rpc", 3n, 0n],
        ],
      );

      const sold = await inventory.sellReservation({ orderId: "rpc-order" });
      assert.equal(sold.reservationId, reserved.reservationId);
      assert.deepEqual(
        sold.stock.map((s) => [s.productId, s.onHand, s.reserved]),
        [["p-rpc", 0n, 0n]],
      );
      assert.deepEqual(
        (await inventory.sellReservation({ orderId: "rpc-order" })).stock.map((s) => s.onHand),
        [0n],
        "a retry answers the same sale",
      );
      assert.deepEqual(await shop.stockOf("p-rpc"), [0, 0, 0], "taken once");
      assert.equal(
        await codeOf(inventory.releaseReservation({ orderId: "rpc-order" })),
        Code.FailedPrecondition,
      );
      assert.equal(
        await codeOf(inventory.sellReservation({ orderId: "rpc-short" })),
        Code.FailedPrecondition,
      );
      assert.equal(
        await codeOf(inventory.sellReservation({ orderId: "rpc-never" })),
        Code.FailedPrecondition,
      );

      // Released: the stock comes back, a sale is refused; released before reserving: nothing is held.
      await inventory.adjustStock({ ...restock, adjustmentId: "rpc-restock-2", delta: 4n });
      await inventory.reserveStock({
        orderId: "rpc-released",
        items: [{ productId: "p-rpc", quantity: 4n }],
      });
      assert.deepEqual(await shop.stockOf("p-rpc"), [4, 4, 0]);
      const released = await inventory.releaseReservation({ orderId: "rpc-released" });
      assert.deepEqual(
        released.stock.map((s) => [s.onHand, s.reserved]),
        [[4n, 0n]],
      );
      await inventory.releaseReservation({ orderId: "rpc-released" });
      assert.deepEqual(await shop.stockOf("p-rpc"), [4, 0, 4], "given back once");
      assert.equal(
        await codeOf(inventory.sellReservation({ orderId: "rpc-released" })),
        Code.FailedPrecondition,
      );
      assert.deepEqual((await inventory.releaseReservation({ orderId: "rpc-early" })).stock, []);
      const late = await inventory.reserveStock({
        orderId: "rpc-early",
        items: [{ productId: "p-rpc", quantity: 1n }],
      });
      assert.equal(late.status, ReservationStatus.RELEASED);
      assert.deepEqual(await shop.stockOf("p-rpc"), [4, 0, 4], "nothing held for a released order");

      // A sale of one product (AdjustStock with the reservation) ends the reservation as sold.
      const shipping = await inventory.reserveStock({
        orderId: "rpc-ship",
        items: [{ productId: "p-rpc", quantity: 2n }],
      });
      const ship = {
        adjustmentId: "rpc-ship",
        productId: "p-rpc",
        delta: -2n,
        reason: StockAdjustmentReason.SALE,
        reservationId: shipping.reservationId,
      };
      assert.equal((await inventory.adjustStock(ship)).stock?.onHand, 2n);
      assert.equal((await inventory.adjustStock(ship)).stock?.onHand, 2n);
      assert.equal(
        await codeOf(inventory.releaseReservation({ orderId: "rpc-ship" })),
        Code.FailedPrecondition,
      );
      assert.equal(
        await codeOf(
          inventory.adjustStock({ ...ship, adjustmentId: "rpc-ship-2", reservationId: "rsv-unknown" }),
        ),
        Code.FailedPrecondition,
      );
    },
  );

  test(
    "ImportStock sets absolute levels as they arrive and lists the messages it refused",
    TIMEOUT,
    async () => {
      const { inventory } = shop;
      await inventory.adjustStock({
        adjustmentId: "restock-import-held",
        productId: "p-import-held",
        delta: 5n,
        reason: StockAdjustmentReason.RESTOCK,
      });
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
      assert.deepEqual([summary.received, summary.updated, summary.unchanged], [7n, 3n, 1n]);
      assert.deepEqual(
        summary.failures.map((f) => [f.index, f.productId]),
        [
          [1n, ""],
          [2n, "p-import-b"],
          [5n, "p-import-held"],
        ],
      );
      assert.match(summary.failures[2]?.reason ?? "", /below the 3 units reserved/);
      assert.deepEqual(await shop.stockOf("p-import-a"), [40, 0, 40]);
      assert.deepEqual(await shop.stockOf("p-import-held"), [4, 3, 1]);
      const imported = await shop.events.stock.next(
        (e) => e.productId === "p-import-held" && e.reason === StockAdjustmentReason.IMPORT,
        "StockAdjusted IMPORT",
      );
      assert.equal(imported.delta, -1n, "delta = new - old");
      const replay = await inventory.importStock(levels());
      assert.deepEqual([replay.updated, replay.unchanged, replay.failures.length], [0n, 4n, 3]);
    },
  );
});
