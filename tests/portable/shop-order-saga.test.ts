/**
 * The order saga under faults and from outside (docs/adr/0019-order-saga.md). A PlaceOrder that
 * dies after any of its steps (the step done, the call never told) is finished by its retry with
 * the same key, once: one charge, one sale, one OrderPlaced. Without a retry, the PaymentCaptured
 * consumer finishes an order that was charged, and the pending sweep cancels one that was not
 * (ABANDONED, its stock given back); a charge that lands after that is refunded. Through the
 * gateway, PlaceOrder takes the caller's identity for an empty user_id and GetOrder shows an
 * order to its customer only. The shop runs in-process (tests/support/shop-fixture.ts) with a
 * short abandonment time; "dying" is a rejection made at a step by the test (order-steps.ts).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { RunningGateway } from "troupe/gateway";
import { StockAdjustedSchema, StockAdjustmentReason } from "../../proto/gen/shop/v1/inventory_pb.ts";
import {
  CancelReason,
  OrderPlacedSchema,
  OrderService,
  OrderStatus,
} from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentCapturedSchema, PaymentService, PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { serveGatewayWithTokens } from "../support/gateway-with-tokens.ts";
import { deferred, eventually, withTimeout } from "../support/jetstream-test-kit.ts";
import type { OrderStep, OrderStepName } from "../support/order-steps.ts";
import { ADDRESS, NAMESPACE, type ShopFixture, startShopFixture } from "../support/shop-fixture.ts";

const TIMEOUT = { timeout: 60_000 };
const ABANDON_AFTER_MS = 3_000;

describe("order saga under faults", () => {
  let shop: ShopFixture;
  let atStep: ((step: OrderStep) => void | Promise<void>) | undefined;

  before(async () => {
    shop = await startShopFixture({
      step: (step) => atStep?.(step),
      order: { abandonAfterMs: ABANDON_AFTER_MS, pendingSweepMs: 200 },
    });
  });
  after(async () => {
    atStep = undefined;
    await shop?.close();
  });

  const placeOrder = (idempotencyKey: string, productId: string, quantity: number, userId = "u-1") =>
    shop.orders.placeOrder({
      idempotencyKey,
      userId,
      items: [{ productId, quantity }],
      shippingAddress: ADDRESS,
      paymentMethodToken: "tok_visa",
    });
  const orderOf = async (id: string) => {
    const { order } = await shop.orders.getOrder({ id });
    assert.ok(order);
    return order;
  };
  /**
   * The next PlaceOrder call dies right after `step` (the first time a call reaches it); resolves
   * with the order id. Until then the PaymentCaptured consumer waits at its steps: had it settled
   * and announced the order first, the call would find nothing left to do and never reach `step`.
   */
  const dieAfter = (dying: OrderStepName) => {
    const died = deferred<string>();
    let armed = true;
    atStep = ({ step, orderId, byCall }) => {
      if (armed && !byCall) return died.promise.then(() => undefined);
      if (!armed || step !== dying) return;
      armed = false;
      died.resolve(orderId);
      throw new ConnectError(`test: the call dies after ${step}`, Code.Unavailable);
    };
    return died.promise;
  };

  for (const [dying, productId, quantity] of [
    ["reserved", "p-1001", 3],
    ["charged", "p-1002", 4],
    ["sold", "p-1003", 5],
    ["announced", "p-1004", 6],
  ] as const) {
    test(`a PlaceOrder that dies after ${dying} is finished by its retry, once`, TIMEOUT, async () => {
      const [onHand] = await shop.stockOf(productId);
      const died = dieAfter(dying);
      const lost = await connectErrorOf(placeOrder(`dies-after-${dying}`, productId, quantity));
      atStep = undefined;
      assert.equal(lost.code, Code.Unavailable, lost.rawMessage);
      const id = await died;

      const { order } = await placeOrder(`dies-after-${dying}`, productId, quantity);
      assert.equal(order?.id, id, "the retry answers the first call's order");
      assert.equal(order?.status, OrderStatus.PAID);
      assert.deepEqual(
        await shop.stockOf(productId),
        [onHand - quantity, 0, onHand - quantity],
        "taken once",
      );
      assert.equal((await shop.stored(PaymentCapturedSchema, order.paymentId)).length, 1, "charged once");
      await shop.events.placed.next((e) => e.orderId === id, "OrderPlaced");
      assert.equal((await shop.stored(OrderPlacedSchema, id)).length, 1, "announced once");
      const sales = (await shop.stored(StockAdjustedSchema, productId)).filter(
        (e) => e.reason === StockAdjustmentReason.SALE && e.adjustmentId.includes(order.reservationId),
      );
      assert.equal(sales.length, 1, "one sale event");
    });
  }

  test("without a retry, a charged order is finished from PaymentCaptured", TIMEOUT, async () => {
    const died = dieAfter("charged");
    await connectErrorOf(placeOrder("charged-no-retry", "p-1005", 2));
    atStep = undefined;
    const id = await died;
    await eventually(async () => (await orderOf(id)).status === OrderStatus.PAID, "the order is paid");
    assert.deepEqual(await shop.stockOf("p-1005"), [408, 0, 408]);
    await shop.events.placed.next((e) => e.orderId === id, "OrderPlaced");
  });

  test(
    "without a retry, an order reserved and never charged is cancelled ABANDONED and its stock given back",
    TIMEOUT,
    async () => {
      const died = dieAfter("reserved");
      await connectErrorOf(placeOrder("reserved-no-retry", "p-1006", 2));
      atStep = undefined;
      const id = await died;
      assert.deepEqual(await shop.stockOf("p-1006"), [9, 2, 7], "held for now");
      const cancelled = await shop.events.cancelled.next((e) => e.orderId === id, "OrderCancelled", 20_000);
      assert.equal(cancelled.reason, CancelReason.ABANDONED);
      const order = await orderOf(id);
      assert.deepEqual([order.status, order.cancelReason], [OrderStatus.CANCELLED, CancelReason.ABANDONED]);
      const placedAt = Number(order.createdAt?.seconds) * 1_000;
      assert.ok(Date.now() - placedAt >= ABANDON_AFTER_MS - 1_000, "not before abandonAfterMs");
      assert.deepEqual(await shop.stockOf("p-1006"), [9, 0, 9], "given back");
      assert.equal(await shop.charged(id), false, "never charged");

      const retried = await placeOrder("reserved-no-retry", "p-1006", 2);
      assert.deepEqual(retried.order, order, "a late retry answers the cancelled order and charges nothing");
      assert.equal(await shop.charged(id), false);
    },
  );

  test(
    "a charge that completes after its order was abandoned is refunded; nothing is sold",
    TIMEOUT,
    async () => {
      // The charge waits until the sweep has cancelled the order, then goes through.
      const charging = deferred<string>();
      atStep = async ({ step, orderId }) => {
        if (step !== "charging") return;
        atStep = undefined;
        charging.resolve(orderId);
        await eventually(
          async () => (await orderOf(orderId)).status === OrderStatus.CANCELLED,
          "abandoned",
          20_000,
        );
      };
      const placing = placeOrder("charged-late", "p-1007", 3);
      const id = await withTimeout(charging.promise, 20_000, () => "no charge");
      const { order } = await placing;
      assert.equal(order?.id, id);
      assert.deepEqual([order?.status, order?.cancelReason], [OrderStatus.CANCELLED, CancelReason.ABANDONED]);

      // The PaymentCaptured consumer finds a cancelled order and refunds its capture.
      const refunded = await shop.events.refunded.next((e) => e.orderId === id, "PaymentRefunded");
      const { payment } = await shop.payments.getPayment({ id: refunded.paymentId });
      assert.equal(payment?.status, PaymentStatus.REFUNDED);
      await eventually(
        async () => (await orderOf(id)).refundId === refunded.refundId,
        "the order names the refund",
      );
      assert.equal((await orderOf(id)).paymentId, refunded.paymentId);
      assert.deepEqual(await shop.stockOf("p-1007"), [57, 0, 57], "nothing sold");
      assert.equal((await shop.stored(OrderPlacedSchema, id)).length, 0);
    },
  );

  describe("through the gateway", () => {
    let gateway: RunningGateway;
    let token: (sub: string) => Promise<string>;
    before(async () => {
      ({ gateway, token } = await serveGatewayWithTokens(shop.nc, NAMESPACE, [OrderService, PaymentService]));
    });
    after(async () => {
      await gateway?.stop(1_000);
    });

    const post = async (sub: string | undefined, body: object) =>
      fetch(`${gateway.url}/v1/orders`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(sub === undefined ? {} : { authorization: `Bearer ${await token(sub)}` }),
        },
        body: JSON.stringify({
          idempotencyKey: crypto.randomUUID(),
          items: [{ productId: "p-1009", quantity: 1 }],
          shippingAddress: ADDRESS,
          paymentMethodToken: "tok_visa",
          ...body,
        }),
      });

    test(
      "POST /v1/orders without user_id is the caller's order; GetOrder is theirs only",
      TIMEOUT,
      async () => {
        const res = await post("u-ada", {});
        assert.equal(res.status, 200, await res.clone().text());
        const { order } = (await res.json()) as {
          order: { id: string; userId: string; status: string; paymentId: string };
        };
        assert.equal(order.userId, "u-ada", "the authenticated identity");
        assert.equal(order.status, "ORDER_STATUS_PAID");

        const own = await fetch(`${gateway.url}/v1/orders/${order.id}`, {
          headers: { authorization: `Bearer ${await token("u-ada")}` },
        });
        assert.equal(own.status, 200);
        const other = await fetch(`${gateway.url}/v1/orders/${order.id}`, {
          headers: { authorization: `Bearer ${await token("u-eve")}` },
        });
        assert.equal(other.status, 404, "another customer's order does not exist for them");
        const as = async (sub: string) => ({ authorization: `Bearer ${await token(sub)}` });
        const payment = `${gateway.url}/v1/payments/${order.paymentId}`;
        assert.equal(
          (await fetch(payment, { headers: await as("u-ada") })).status,
          200,
          "the payer reads it",
        );
        assert.equal((await fetch(payment, { headers: await as("u-eve") })).status, 404, "no one else");
        const refund = await fetch(`${payment}:refund`, {
          method: "POST",
          headers: { ...(await as("u-eve")), "content-type": "application/json" },
          body: JSON.stringify({ idempotencyKey: "eve-refund" }),
        });
        assert.equal(refund.status, 404, "nor refunds it");

        const same = await post("u-ada", { userId: "u-ada" });
        assert.equal(same.status, 200, "naming oneself is fine");
        const impostor = await post("u-eve", { userId: "u-ada" });
        assert.equal(impostor.status, 403);
        assert.equal(((await impostor.json()) as { code: string }).code, "permission_denied");
        assert.equal((await post(undefined, {})).status, 401, "no token, no order");
      },
    );
  });
});
