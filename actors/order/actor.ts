/**
 * The order actor: customers' orders (shop.v1.OrderService). PlaceOrder checks the request,
 * prices its items with the product actor (ProductService.LookupProducts), stores the order
 * PENDING in JetStream KV (order-store.ts), and takes it through the saga (order-saga.ts,
 * docs/adr/0019-order-saga.md): reserve the stock, charge the payment (idempotency key
 * `order:<order id>`), sell the reservation, and answer the order PAID, or CANCELLED with its
 * reason (out of stock, declined, reservation expired: the payment refunded), as order.proto
 * says. A PAID order is announced with OrderPlaced, a cancelled one with OrderCancelled.
 *
 * Every step can be repeated, so a retry with the same idempotency key finishes what a call that
 * died left undone. Two more paths finish it without a retry:
 *
 * - the PaymentCaptured consumer: the payment actor publishes it before Charge answers, so an
 *   order whose call died after the charge is sold and paid (or refunded, if it was cancelled
 *   meanwhile) from the event;
 * - the pending sweep: every `pendingSweepMs` each instance looks at the orders not settled yet,
 *   finishes the settled ones whose announcement was cut off, and cancels (ABANDONED) those still
 *   PENDING `abandonAfterMs` after they were placed and never charged, after releasing their
 *   reservation; one charged meanwhile is refunded by the consumer.
 *
 * Through the gateway the caller is the customer: PlaceOrder takes the authenticated identity
 * when `user_id` is empty (another user's id is `permission_denied`), and GetOrder shows an
 * order only to the customer who placed it (`not_found` for anyone else).
 *
 * `actors/order/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { create } from "@bufbuild/protobuf";
import { timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { defineActor, implement, onEvent, type SubscriptionOptions } from "troupe";
import { callerIdentity } from "troupe/host";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { OrderSchema, OrderService, OrderStatus } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentCapturedSchema, PaymentService } from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { userOfCall } from "../shared/user-of-call.ts";
import { checkPlaceOrder, checkSameOrder, priceItems } from "./order-request.ts";
import { createOrderSaga, orderPublishes } from "./order-saga.ts";
import { openOrderStore } from "./order-store.ts";

export { chargeKeyOf, refundKeyOf } from "./order-saga.ts";

export interface OrderActorOptions {
  /** Makes the id of a new order; ids must be KV keys and subject tokens (no dots). */
  readonly newId: () => string;
  /**
   * The PaymentCaptured consumer's options. It alone refunds a charge that lands after its order
   * was abandoned, so it keeps trying for long (about a quarter of an hour by default) before a
   * capture is left to the dead letters.
   */
  readonly paymentCaptured: Partial<SubscriptionOptions>;
  /** How often each instance looks at the orders not settled yet. */
  readonly pendingSweepMs: number;
  /**
   * How long after it was placed an order may stay PENDING before the sweep cancels it
   * (ABANDONED): longer than a PlaceOrder call takes, with its retries.
   */
  readonly abandonAfterMs: number;
}

export const defaultOrderActorOptions: OrderActorOptions = {
  newId: () => `o-${crypto.randomUUID()}`,
  paymentCaptured: { maxAttempts: 20 },
  pendingSweepMs: 10_000,
  abandonAfterMs: 60_000,
};

/** The order actor with some options changed (tests, demos). */
export function createOrderActor(partial: Partial<OrderActorOptions> = {}) {
  const options: OrderActorOptions = { ...defaultOrderActorOptions, ...partial };

  return defineActor({
    name: "order",
    version: "1.0.0",
    description:
      "Customers' orders: reserves their stock, takes the payment, sells the stock, announces them.",
    serves: [OrderService],
    calls: [ProductService, InventoryService, PaymentService],
    publishes: orderPublishes,
    consumes: { events: [PaymentCapturedSchema] },
    state: ["orders", "order_requests", "order_pending"],

    async setup(ctx) {
      const orders = await openOrderStore(ctx);
      const saga = createOrderSaga(ctx, orders);
      ctx.every(
        options.pendingSweepMs,
        async () => {
          const now = Date.now();
          for (const { id, placed } of await orders.pending()) {
            const old =
              placed.createdAt !== undefined && now - timestampMs(placed.createdAt) > options.abandonAfterMs;
            const order = await orders.get(id);
            if (order === undefined) {
              // Its PlaceOrder died before the order was stored, or lost its key to another order.
              if (old) await orders.settled(id);
            } else if (order.status !== OrderStatus.PENDING || old) {
              await saga.abandon(order);
            }
          }
        },
        { name: "pending orders", jitter: 0.2 },
      );
      return { orders, saga };
    },

    services(ctx, { orders, saga }) {
      const products = ctx.client(ProductService);
      return [
        implement(OrderService, {
          async placeOrder(request, context) {
            // The caller's identity stands in for an empty user_id (order.proto); checked after.
            const checked = checkPlaceOrder({ ...request, userId: userOfCall(request.userId, context) });
            const earlier = await orders.placedWith(checked.idempotencyKey);
            if (earlier !== undefined) {
              checkSameOrder(earlier, checked);
              // `complete` finishes a first call that died between its writes; the saga goes on
              // from where the order stands (perhaps paid or cancelled since).
              const order = await orders.complete(earlier);
              return { order: await saga.place(order, checked.paymentMethodToken) };
            }
            const { lines, total } = await priceItems(products, checked.items);
            const now = timestampNow();
            const order = create(OrderSchema, {
              id: options.newId(),
              userId: checked.userId,
              status: OrderStatus.PENDING,
              lines,
              total,
              shippingAddress: checked.shippingAddress,
              createdAt: now,
              updatedAt: now,
            });
            // A concurrent call with the same key may have placed its order first: that one counts.
            const placed = await orders.place(checked.idempotencyKey, order);
            checkSameOrder(placed, checked);
            return { order: await saga.place(placed, checked.paymentMethodToken) };
          },

          async getOrder(request, context) {
            const order = await orders.get(request.id);
            const caller = callerIdentity(context)?.subject;
            // Another customer's order does not exist for the caller: not even its id is confirmed.
            if (order === undefined || (caller !== undefined && order.userId !== caller)) {
              throw new ConnectError(`order "${request.id}" not found`, Code.NotFound);
            }
            return { order };
          },
        }),
      ];
    },

    subscriptions: (_ctx, { orders, saga }) => [
      onEvent(
        PaymentCapturedSchema,
        async (captured) => {
          const order = await orders.get(captured.orderId);
          if (order === undefined) {
            // Charges are made for stored orders only, so the order is there: this read came before
            // it (a replica behind its leader). Dropping the capture could leave it unrefunded, so
            // it is tried again; one that never finds its order ends in the dead letters.
            throw new ConnectError(
              `PaymentCaptured for order "${captured.orderId}", not found (yet)`,
              Code.NotFound,
            );
          }
          await saga.captured(order, { id: captured.paymentId });
        },
        { ...defaultOrderActorOptions.paymentCaptured, ...options.paymentCaptured },
      ),
    ],
  });
}

/** The order actor as `actors/order/main.ts` runs it. */
export const orderActor = createOrderActor();
