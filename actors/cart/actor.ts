/**
 * The cart actor: customers' shopping carts (shop.v1.CartService), a keyed actor
 * (docs/adr/0032-keyed-virtual-actors.md). Each cart is one actor, keyed by its cart id: its calls
 * run one at a time, as turns, on whichever instance owns the cart's partition, and its state
 * (cart_state.proto: lines, generation, revision, the last checkout) is in the KV bucket `carts`,
 * written back after each turn that changed it. A turn that fails changes nothing.
 *
 * - A cart's id is its customer's user id; through the gateway only that customer may use it
 *   (cart-owner.ts).
 * - AddItem prices the product with ProductService.GetProduct; RemoveItem and GetCart need
 *   nothing else (cart-lines.ts).
 * - Checkout places the order with OrderService.PlaceOrder under an idempotency key derived from
 *   the cart, empties the cart when the order is PAID and keeps it otherwise (checkout.ts).
 * - A cart left non-empty and unchanged for `abandonedAfterMs` gets one reminder mail: a durable
 *   reminder of the actor, then a SendCartReminder job for the email actor (abandoned-cart.ts).
 *
 * `actors/cart/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { defineActor, keyed, type Turn } from "troupe";
import { CartStateSchema } from "../../proto/gen/shop/cart/state/v1/cart_state_pb.ts";
import { CartService } from "../../proto/gen/shop/v1/cart_pb.ts";
import { SendCartReminderSchema } from "../../proto/gen/shop/v1/email_pb.ts";
import { OrderService } from "../../proto/gen/shop/v1/order_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { remindAbandoned, watchAbandonment } from "./abandoned-cart.ts";
import { addLine, cartOf, removeLine } from "./cart-lines.ts";
import { checkCartOwner } from "./cart-owner.ts";
import { checkout, refusePendingChange } from "./checkout.ts";

export interface CartActorOptions {
  /**
   * How long a cart must stay non-empty and unchanged before its customer is reminded of it, in
   * milliseconds (CART_ABANDONED_AFTER_MS for the process).
   */
  readonly abandonedAfterMs: number;
}

export const defaultCartActorOptions: CartActorOptions = {
  abandonedAfterMs: 24 * 60 * 60_000,
};

/** Checks the options; throws RangeError for a bad one. */
export function resolveCartActorOptions(partial: Partial<CartActorOptions> = {}): CartActorOptions {
  const options: CartActorOptions = { ...defaultCartActorOptions, ...partial };
  if (!Number.isSafeInteger(options.abandonedAfterMs) || options.abandonedAfterMs <= 0) {
    throw new RangeError(
      `abandonedAfterMs must be a whole number of milliseconds > 0, got ${options.abandonedAfterMs}`,
    );
  }
  return options;
}

type CartTurn = Turn<typeof CartStateSchema>;

/** The cart actor with some options changed (tests, demos); bad options throw RangeError here. */
export function createCartActor(partial: Partial<CartActorOptions> = {}) {
  const { abandonedAfterMs } = resolveCartActorOptions(partial);
  /** After a change of the lines: the new revision, the time, and the abandonment reminder. */
  const changed = async (turn: CartTurn) => {
    turn.state.revision += 1n;
    turn.state.updatedAt = timestampNow();
    await watchAbandonment(turn, abandonedAfterMs);
  };

  return defineActor({
    name: "cart",
    version: "1.0.0",
    description: "Customers' shopping carts, one keyed actor per cart: prices lines, checks out, reminds.",
    serves: [CartService],
    calls: [ProductService, OrderService, UserService],
    publishes: { jobs: [SendCartReminderSchema] },
    state: ["carts"],

    services(ctx) {
      const products = ctx.client(ProductService);
      const orders = ctx.client(OrderService);
      const users = ctx.client(UserService);
      return [
        keyed(CartService, {
          bucket: "carts",
          state: CartStateSchema,
          handlers: {
            async addItem(request, turn) {
              checkCartOwner(turn.key, turn.context);
              refusePendingChange(turn.key, turn.state);
              const { product } = await products.getProduct({ id: request.productId });
              if (product === undefined)
                throw new Error(`GetProduct("${request.productId}") answered no product`);
              turn.state.lines = addLine(turn.state.lines, product, request.quantity);
              await changed(turn);
              return { cart: cartOf(turn.key, turn.state) };
            },

            async removeItem(request, turn) {
              checkCartOwner(turn.key, turn.context);
              refusePendingChange(turn.key, turn.state);
              const lines = removeLine(turn.state.lines, request.productId);
              if (lines !== turn.state.lines) {
                turn.state.lines = lines;
                await changed(turn);
              }
              return { cart: cartOf(turn.key, turn.state) };
            },

            getCart(_request, turn) {
              checkCartOwner(turn.key, turn.context);
              return { cart: cartOf(turn.key, turn.state) };
            },

            checkout(request, turn) {
              checkCartOwner(turn.key, turn.context);
              return checkout(request, turn, {
                orders,
                afterChange: (t) => watchAbandonment(t, abandonedAfterMs),
              });
            },
          },

          onReminder: (reminder, turn) =>
            remindAbandoned(reminder, turn, {
              users,
              enqueue: (init, id) => ctx.enqueue(SendCartReminderSchema, init, { id }),
              logger: ctx.logger,
            }),
        }),
      ];
    },
  });
}

/** The cart actor as `actors/cart/main.ts` runs it (without CART_ABANDONED_AFTER_MS). */
export const cartActor = createCartActor();
