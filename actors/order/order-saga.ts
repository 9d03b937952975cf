/**
 * The steps of an order, from PENDING to PAID or CANCELLED (docs/adr/0019-order-saga.md). Each
 * step is a call that another actor makes idempotent per order, or a conditional write of the
 * order's record that only moves it forward, so whoever takes an order on (PlaceOrder, its
 * retry, the PaymentCaptured consumer, the pending sweep) goes on from where the order stands and
 * they all agree:
 *
 *   PENDING                  ReserveStock (per order)   short → CANCELLED OUT_OF_STOCK
 *   PENDING, reserved        Charge (key `order:<id>`)  declined → CANCELLED PAYMENT_DECLINED
 *   PENDING + payment_id     SellReservation            sold → PAID; expired → Refund, CANCELLED RESERVATION_EXPIRED
 *   PAID / CANCELLED         release (CANCELLED), announce, leave the pending index (once)
 *
 * A PENDING order has a payment id only once its payment was captured (a decline cancels it in
 * the same write), and a reservation is sold only for such an order: so a sold reservation
 * always belongs to an order whose capture is recorded. The inventory decides once whether a
 * reservation is sold or released, which settles every race between a late sale and a
 * cancellation: a sale refused because the reservation was released refunds the payment.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ActorContext } from "troupe";
import { InventoryService, ReservationStatus } from "../../proto/gen/shop/v1/inventory_pb.ts";
import {
  CancelReason,
  type Order,
  OrderCancelledSchema,
  OrderPlacedSchema,
  OrderSchema,
  OrderStatus,
} from "../../proto/gen/shop/v1/order_pb.ts";
import { type Payment, PaymentService, PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import type { OrderStore } from "./order-store.ts";

export const orderPublishes = { events: [OrderPlacedSchema, OrderCancelledSchema] };
export type OrderContext = ActorContext<typeof orderPublishes>;

/** The idempotency key of the one charge of an order: every attempt uses it. */
export function chargeKeyOf(orderId: string): string {
  return `order:${orderId}`;
}

/** The idempotency key of the refund of a cancelled order's captured payment. */
export function refundKeyOf(orderId: string): string {
  return `order:${orderId}:cancelled`;
}

export interface OrderSaga {
  /** PlaceOrder and its retries: takes a stored order as far as it goes, charging `paymentMethodToken`. */
  place(order: Order, paymentMethodToken: string): Promise<Order>;
  /** PaymentCaptured: the order's payment was captured; sells, or refunds a cancelled order's capture. */
  captured(order: Order, payment: Pick<Payment, "id">): Promise<Order>;
  /** The sweep: an order PENDING for too long is completed if paid, else cancelled ABANDONED. */
  abandon(order: Order): Promise<Order>;
  /** The last steps of a settled order (release, announce, unindex); a PENDING order is left. */
  finish(order: Order): Promise<Order>;
}

export function createOrderSaga(ctx: OrderContext, orders: OrderStore): OrderSaga {
  const inventory = ctx.client(InventoryService);
  const payments = ctx.client(PaymentService);

  const change = async (id: string, fn: (current: Order) => Partial<Order> | undefined) => {
    const order = await orders.update(id, (current) => {
      const patch = fn(current);
      return patch === undefined
        ? undefined
        : create(OrderSchema, { ...current, ...patch, updatedAt: timestampNow() });
    });
    if (order === undefined) throw new ConnectError(`order "${id}" is gone`, Code.Internal);
    return order;
  };
  /** Cancels a PENDING order that has no capture recorded (one that has is sold or refunded instead). */
  const cancel = (id: string, reason: CancelReason) =>
    change(id, (current) =>
      current.status === OrderStatus.PENDING && current.paymentId === ""
        ? { status: OrderStatus.CANCELLED, cancelReason: reason }
        : undefined,
    );

  /** Holds the order's stock; a PENDING order comes back with its reservation id (not yet stored). */
  const reserve = async (order: Order): Promise<Order> => {
    const items = order.lines.map(({ productId, quantity }) => ({ productId, quantity: BigInt(quantity) }));
    items.sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
    const reserved = await inventory.reserveStock({ orderId: order.id, items });
    switch (reserved.status) {
      case ReservationStatus.RESERVED:
        return create(OrderSchema, { ...order, reservationId: reserved.reservationId });
      case ReservationStatus.OUT_OF_STOCK:
        return cancel(order.id, CancelReason.OUT_OF_STOCK);
      case ReservationStatus.RELEASED: // released by the sweep: the order is being abandoned
        return cancel(order.id, CancelReason.ABANDONED);
      default:
        throw new ConnectError(`ReserveStock answered status ${reserved.status}`, Code.Internal);
    }
  };

  /** Records a charge on a PENDING order: a capture stays PENDING with its payment id, a decline cancels. */
  const recordCharge = (order: Order, payment: Pick<Payment, "id" | "status">) =>
    change(order.id, (current) => {
      const reservationId = current.reservationId || order.reservationId;
      if (current.status !== OrderStatus.PENDING || current.paymentId !== "") {
        // The PaymentCaptured consumer recorded the capture first, knowing no reservation id.
        return current.reservationId === "" && reservationId !== "" ? { reservationId } : undefined;
      }
      return payment.status === PaymentStatus.DECLINED
        ? {
            status: OrderStatus.CANCELLED,
            cancelReason: CancelReason.PAYMENT_DECLINED,
            paymentId: payment.id,
            reservationId,
          }
        : { paymentId: payment.id, reservationId };
    });

  /** Refunds the order's captured payment, once per order; the refund id, or "" if nothing was left. */
  const refund = async (orderId: string, paymentId: string): Promise<string> => {
    try {
      const { refundId } = await payments.refund({
        paymentId,
        idempotencyKey: refundKeyOf(orderId),
        reason: `order ${orderId} cancelled`,
      });
      return refundId;
    } catch (err) {
      // Refunded in full already, by another key (the customer, an operator): nothing is left.
      if (ConnectError.from(err).code !== Code.FailedPrecondition) throw err;
      ctx.logger.log("warn", "the payment of a cancelled order has nothing left to refund", {
        orderId,
        paymentId,
      });
      return "";
    }
  };

  /** Sells a captured order's reservation and marks it PAID, or refunds and cancels it when the sale is refused. */
  const sell = async (order: Order): Promise<Order> => {
    try {
      await inventory.sellReservation({ orderId: order.id });
    } catch (err) {
      if (ConnectError.from(err).code !== Code.FailedPrecondition) throw err;
      // Refused: the reservation was released (expired, or the order abandoned). A refund is
      // safe only once it can never be sold, and releasing it is what decides that (the
      // inventory's create-only end record). A release refused as sold means the refusal read
      // something not written yet (a replica behind its leader): the sale stands, try again.
      try {
        await inventory.releaseReservation({ orderId: order.id });
      } catch (releaseErr) {
        if (ConnectError.from(releaseErr).code !== Code.FailedPrecondition) throw releaseErr;
        throw new ConnectError(
          `the reservation of order "${order.id}" was refused for sale, then found sold; try again`,
          Code.Unavailable,
          undefined,
          undefined,
          releaseErr,
        );
      }
      const refundId = await refund(order.id, order.paymentId);
      return change(order.id, (current) =>
        current.status === OrderStatus.PENDING
          ? { status: OrderStatus.CANCELLED, cancelReason: CancelReason.RESERVATION_EXPIRED, refundId }
          : undefined,
      );
    }
    return change(order.id, (current) =>
      current.status === OrderStatus.PENDING ? { status: OrderStatus.PAID } : undefined,
    );
  };

  const finish = async (order: Order): Promise<Order> => {
    // Settled and announced before (a late retry, a redelivered PaymentCaptured): nothing to add.
    if (order.status === OrderStatus.PENDING || !(await orders.isPending(order.id))) return order;
    if (order.status === OrderStatus.PAID) {
      const { id: orderId, userId, lines, total, paymentId, createdAt: placedAt } = order;
      await ctx.publish(
        OrderPlacedSchema,
        { orderId, userId, lines, total, paymentId, placedAt },
        { id: orderId },
      );
    } else if (order.status === OrderStatus.CANCELLED) {
      await release(order);
      const {
        id: orderId,
        userId,
        cancelReason: reason,
        paymentId,
        refundId,
        updatedAt: cancelledAt,
      } = order;
      await ctx.publish(
        OrderCancelledSchema,
        { orderId, userId, reason, paymentId, refundId, cancelledAt },
        { id: `OrderCancelled:${orderId}` },
      );
    }
    await orders.settled(order.id);
    return order;
  };

  /** Gives back what a cancelled order holds (nothing, mostly: an idempotent no-op then). */
  const release = async (order: Order) => {
    try {
      await inventory.releaseReservation({ orderId: order.id });
    } catch (err) {
      if (ConnectError.from(err).code !== Code.FailedPrecondition) throw err;
      // Sold: only an order with a recorded capture is sold, and such an order is cancelled only
      // after its sale was refused. Seeing this means the stores disagree; say so loudly.
      ctx.logger.log("error", "a cancelled order's reservation was sold", { orderId: order.id });
    }
  };

  return {
    async place(order, paymentMethodToken) {
      let current = order;
      if (current.status === OrderStatus.PENDING && current.paymentId === "") {
        current = await reserve(current);
        if (current.status !== OrderStatus.PENDING) return finish(current);
        const { payment } = await payments.charge({
          idempotencyKey: chargeKeyOf(current.id),
          orderId: current.id,
          userId: current.userId,
          amount: current.total,
          paymentMethodToken,
          description: `Order ${current.id}`,
        });
        if (payment === undefined) throw new ConnectError("Charge answered no payment", Code.Internal);
        current = await recordCharge(current, payment);
      }
      if (current.status === OrderStatus.PENDING) current = await sell(current);
      return finish(current);
    },

    async captured(order, payment) {
      let current = order;
      if (current.status === OrderStatus.PENDING) {
        if (current.paymentId === "")
          current = await recordCharge(current, { id: payment.id, status: PaymentStatus.CAPTURED });
        if (current.status === OrderStatus.PENDING) current = await sell(current);
      } else if (current.status === OrderStatus.CANCELLED && current.refundId === "") {
        // Cancelled before this charge completed (abandoned while the charge was in flight).
        const refundId = await refund(current.id, payment.id);
        current = await change(current.id, (c) =>
          c.refundId === "" && (c.paymentId === "" || c.paymentId === payment.id)
            ? { paymentId: payment.id, refundId }
            : undefined,
        );
      }
      return finish(current);
    },

    async abandon(order) {
      if (order.status !== OrderStatus.PENDING) return finish(order);
      if (order.paymentId !== "") return finish(await sell(order)); // captured: complete it
      try {
        await inventory.releaseReservation({ orderId: order.id });
      } catch (err) {
        if (ConnectError.from(err).code !== Code.FailedPrecondition) throw err;
        return order; // sold: a capture is being recorded right now; its seller completes the order
      }
      // A charge that completes from now on finds the reservation released: it is refunded.
      return finish(await cancel(order.id, CancelReason.ABANDONED));
    },

    finish,
  };
}
