/**
 * The order actor: customers' orders (shop.v1.OrderService). PlaceOrder checks the request,
 * prices its items with the product actor (ProductService.LookupProducts), stores the order
 * PENDING in JetStream KV (order-store.ts), charges it synchronously with the payment actor
 * (PaymentService.Charge, idempotency key `order:<order id>`), and then:
 *
 * - captured: the order becomes PAID with its payment id, and OrderPlaced (message id = order
 *   id) tells the inventory actor to take the stock;
 * - declined: the order becomes CANCELLED (reason PAYMENT_DECLINED) and is returned as a normal
 *   answer, as order.proto says; nothing is announced, no stock is taken.
 *
 * Every step can be repeated, so a retry with the same idempotency key finishes what a call
 * that died left undone (docs/adr/0013-payment-flow.md): a PENDING order is charged again with
 * the same charge key (the payment actor answers with the first payment), a PAID order is
 * announced again (the stream's duplicate window drops the copy). The actor also follows
 * PaymentCaptured, which the payment actor publishes before it answers, and completes the order
 * of each capture the same way: an order whose PlaceOrder died after the charge is paid and
 * announced without waiting for a retry.
 *
 * `actors/order/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type CallOptions, Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  CancelReason,
  type Order,
  OrderPlacedSchema,
  OrderSchema,
  OrderService,
  OrderStatus,
} from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentCapturedSchema, PaymentService, PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import {
  type ActorContext,
  type ActorDefinition,
  defineActor,
  implement,
  onEvent,
  type SubscriptionOptions,
} from "../../runtime/mod.ts";
import { checkPlaceOrder, checkSameOrder, type OrderRequest, priceItems } from "./order-request.ts";
import { type OrderStore, openOrderStore } from "./order-store.ts";

export interface OrderActorOptions {
  /** Opens the orders of one instance (once per instance, when it starts). */
  readonly store: (ctx: ActorContext) => Promise<OrderStore>;
  /** Makes the id of a new order; ids must be KV keys and subject tokens (no dots). */
  readonly newId: () => string;
  /** The PaymentCaptured consumer's options. */
  readonly paymentCaptured: Partial<SubscriptionOptions>;
}

export const defaultOrderActorOptions: OrderActorOptions = {
  store: (ctx) => openOrderStore(ctx.nc, { namespace: ctx.namespace }),
  newId: () => `o-${crypto.randomUUID()}`,
  paymentCaptured: {},
};

/** The idempotency key of the one charge of an order: every attempt of PlaceOrder uses it. */
export function chargeKeyOf(orderId: string): string {
  return `order:${orderId}`;
}

/** The outcome of an order's charge, as the order records it. */
interface ChargeOutcome {
  readonly paymentId: string;
  readonly captured: boolean;
}

/** The order actor with some options changed (tests, demos). */
export function createOrderActor(partial: Partial<OrderActorOptions> = {}): ActorDefinition<OrderStore> {
  const options: OrderActorOptions = { ...defaultOrderActorOptions, ...partial };

  /** Records a charge's outcome on a PENDING order (PAID or CANCELLED); a settled order stays as it is. */
  const settle = async (orders: OrderStore, orderId: string, outcome: ChargeOutcome) => {
    const settled = await orders.update(orderId, (order) => {
      if (order.status !== OrderStatus.PENDING) return undefined;
      return create(OrderSchema, {
        ...order,
        paymentId: outcome.paymentId,
        updatedAt: timestampNow(),
        ...(outcome.captured
          ? { status: OrderStatus.PAID }
          : { status: OrderStatus.CANCELLED, cancelReason: CancelReason.PAYMENT_DECLINED }),
      });
    });
    if (settled === undefined) throw new ConnectError(`order "${orderId}" is gone`, Code.Internal);
    return settled;
  };

  return defineActor<OrderStore>({
    name: "order",
    version: "1.0.0",
    description: "Customers' orders: places them, takes the payment and announces them to the shop.",
    publishes: { events: [OrderPlacedSchema] },
    setup: (ctx) => options.store(ctx),

    services(ctx, orders) {
      const products = ctx.client(ProductService);
      const payments = ctx.client(PaymentService);

      /** Charges a PENDING order (once per order, whoever asks) and records the outcome. */
      const pay = async (order: Order, request: OrderRequest, call: CallOptions): Promise<Order> => {
        if (order.status !== OrderStatus.PENDING) return order;
        const { payment } = await payments.charge(
          {
            idempotencyKey: chargeKeyOf(order.id),
            orderId: order.id,
            userId: order.userId,
            ...(order.total === undefined ? {} : { amount: order.total }),
            paymentMethodToken: request.paymentMethodToken,
            description: `Order ${order.id}`,
          },
          call,
        );
        if (payment === undefined) throw new ConnectError("Charge answered no payment", Code.Internal);
        return settle(orders, order.id, {
          paymentId: payment.id,
          captured: payment.status !== PaymentStatus.DECLINED,
        });
      };

      /** Pays for a stored order and announces it if paid; each step is skipped once done. */
      const complete = async (order: Order, request: OrderRequest, context: HandlerContext) => {
        const settled = await pay(order, request, nestedCallOptions(context));
        if (settled.status === OrderStatus.PAID) await announce(ctx, settled);
        return { order: settled };
      };

      return [
        implement(OrderService, {
          async placeOrder(request, context) {
            const checked = checkPlaceOrder(request);
            const earlier = await orders.placedWith(checked.idempotencyKey);
            if (earlier !== undefined) {
              checkSameOrder(earlier, checked);
              // `place` completes a first call that died between its two writes, and answers the
              // order as it now stands (perhaps paid or cancelled since it was first placed).
              return complete(await orders.place(checked.idempotencyKey, earlier), checked, context);
            }
            const { lines, total } = await priceItems(products, checked.items, nestedCallOptions(context));
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
            return complete(placed, checked, context);
          },

          async getOrder(request) {
            if (request.id === "") throw new ConnectError("id is required", Code.InvalidArgument);
            const order = await orders.get(request.id);
            if (order === undefined) throw new ConnectError(`order "${request.id}" not found`, Code.NotFound);
            return { order };
          },
        }),
      ];
    },

    subscriptions: (ctx, orders) => [
      onEvent(
        PaymentCapturedSchema,
        async (captured) => {
          const order = await orders.get(captured.orderId);
          if (order === undefined) {
            // Charges are made for stored orders only; another system's payment is none of ours.
            ctx.logger.log("warn", "PaymentCaptured for an unknown order", {
              orderId: captured.orderId,
              paymentId: captured.paymentId,
            });
            return;
          }
          const settled = await settle(orders, order.id, { paymentId: captured.paymentId, captured: true });
          if (settled.status === OrderStatus.PAID) await announce(ctx, settled);
        },
        options.paymentCaptured,
      ),
    ],
  });
}

/** The order actor as `actors/order/main.ts` runs it. */
export const orderActor: ActorDefinition<OrderStore> = createOrderActor();

/** Announces a paid order; the order id is the message id, so repeats are dropped. */
async function announce(ctx: ActorContext, order: Order): Promise<void> {
  await ctx.publish(
    OrderPlacedSchema,
    {
      orderId: order.id,
      userId: order.userId,
      lines: order.lines,
      ...(order.total === undefined ? {} : { total: order.total }),
      paymentId: order.paymentId,
      ...(order.createdAt === undefined ? {} : { placedAt: order.createdAt }),
    },
    { id: order.id },
  );
}

/** Options for a call made while serving `context`: its remaining time and cancellation carry over. */
function nestedCallOptions(context: HandlerContext): CallOptions {
  const timeoutMs = context.timeoutMs();
  return { signal: context.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
}
