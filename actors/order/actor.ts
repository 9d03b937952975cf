/**
 * The order actor: customers' orders (shop.v1.OrderService). PlaceOrder checks the request,
 * prices its items with the product actor (ProductService.LookupProducts), stores the order in
 * JetStream KV (order-store.ts) and publishes OrderPlaced, keyed and identified by the order id,
 * which the inventory actor turns into a stock decrement.
 *
 * Payment is not taken yet: an order is stored as PENDING ("accepted; stock reservation and
 * payment in progress") and OrderPlaced carries no payment id. A retry with the same idempotency
 * key finds the stored order, and publishes OrderPlaced again with the same message id, so a call
 * that died between storing and publishing is completed by its retry and a duplicate is dropped
 * by the stream's duplicate window.
 *
 * `actors/order/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type CallOptions, Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  type Order,
  OrderPlacedSchema,
  OrderSchema,
  OrderService,
  OrderStatus,
} from "../../proto/gen/shop/v1/order_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { type ActorContext, type ActorDefinition, defineActor, implement } from "../../runtime/mod.ts";
import { checkPlaceOrder, checkSameOrder, priceItems } from "./order-request.ts";
import { type OrderStore, openOrderStore } from "./order-store.ts";

export interface OrderActorOptions {
  /** Opens the orders of one instance (once per instance, when it starts). */
  readonly store: (ctx: ActorContext) => Promise<OrderStore>;
  /** Makes the id of a new order; ids must be KV keys and subject tokens (no dots). */
  readonly newId: () => string;
}

export const defaultOrderActorOptions: OrderActorOptions = {
  store: (ctx) => openOrderStore(ctx.nc, { namespace: ctx.namespace }),
  newId: () => `o-${crypto.randomUUID()}`,
};

/** The order actor with some options changed (tests, demos). */
export function createOrderActor(partial: Partial<OrderActorOptions> = {}): ActorDefinition<OrderStore> {
  const options: OrderActorOptions = { ...defaultOrderActorOptions, ...partial };
  return defineActor<OrderStore>({
    name: "order",
    version: "1.0.0",
    description: "Customers' orders: places them and announces them to the rest of the shop.",
    publishes: { events: [OrderPlacedSchema] },
    setup: (ctx) => options.store(ctx),

    services(ctx, orders) {
      const products = ctx.client(ProductService);

      /** Announces a stored order; the order id is the message id, so repeats are dropped. */
      const announce = async (order: Order) => {
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
        return order;
      };

      return [
        implement(OrderService, {
          async placeOrder(request, context) {
            const checked = checkPlaceOrder(request);
            const earlier = await orders.placedWith(checked.idempotencyKey);
            if (earlier !== undefined) {
              checkSameOrder(earlier, checked);
              return { order: await announce(await orders.place(checked.idempotencyKey, earlier)) };
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
            return { order: await announce(placed) };
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
  });
}

/** The order actor as `actors/order/main.ts` runs it. */
export const orderActor: ActorDefinition<OrderStore> = createOrderActor();

/** Options for a call made while serving `context`: its remaining time and cancellation carry over. */
function nestedCallOptions(context: HandlerContext): CallOptions {
  const timeoutMs = context.timeoutMs();
  return { signal: context.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
}
