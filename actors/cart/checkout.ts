/**
 * CartService.Checkout (shop/v1/cart.proto): orders what a cart holds with
 * OrderService.PlaceOrder, as one turn of the cart's actor, so nothing changes the cart while its
 * order is placed.
 *
 * The order's idempotency key is `cart-<cart id>-g<generation>-r<revision>` (`checkoutKeyOf`):
 * - a Checkout retried after a failure (the turn changed nothing) sends the same key, and the
 *   order actor goes on with the order the first attempt began instead of placing another;
 * - a PAID order empties the cart, starts its next generation and is kept with the cart, so a
 *   retry of that generation's Checkout (its answer lost) gets the same order and places none;
 * - a CANCELLED order (declined, out of stock) keeps the lines and counts as a change (the
 *   revision grows), so the next Checkout is a new attempt, not the cancelled order again;
 * - a change of the lines changes the revision too: a different cart is a different order.
 *
 * A Checkout that fails without an answer (its PlaceOrder call lost) may have placed an order
 * that the order actor finishes on its own (docs/adr/0019-order-saga.md). So before it calls
 * PlaceOrder the turn saves `checkout_started` (`turn.save()`: it stays when the turn then
 * fails), and while it is set the lines cannot change (`refusePendingChange`): the next Checkout
 * sends the same key, and gets that order or places it, once. PlaceOrder's answer clears it.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { Turn } from "troupe";
import {
  type CartState,
  type CartStateSchema,
  CheckoutRecordSchema,
} from "../../proto/gen/shop/cart/state/v1/cart_state_pb.ts";
import type { CheckoutRequest, CheckoutResponseSchema } from "../../proto/gen/shop/v1/cart_pb.ts";
import { type Order, type OrderService, OrderStatus } from "../../proto/gen/shop/v1/order_pb.ts";
import { cartOf } from "./cart-lines.ts";

/** The idempotency key of the order of a cart at `state`'s generation and revision. */
export function checkoutKeyOf(cartId: string, state: Pick<CartState, "generation" | "revision">): string {
  return `cart-${cartId}-g${state.generation}-r${state.revision}`;
}

export interface CheckoutDeps {
  readonly orders: Client<typeof OrderService>;
  /**
   * Called once a checkout changed the cart (emptied it, or kept its lines under a new revision):
   * the abandonment reminder follows the cart.
   */
  readonly afterChange: (turn: Turn<typeof CartStateSchema>) => Promise<void>;
}

/**
 * Refuses a change of the lines while a checkout is pending: the order of these lines may exist,
 * and only a Checkout (same key) settles it.
 */
export function refusePendingChange(cartId: string, state: CartState): void {
  if (!state.checkoutStarted) return;
  throw new ConnectError(
    `cart "${cartId}" has a checkout whose outcome is not known yet: call Checkout again to settle it (its order is placed at most once) before changing the cart`,
    Code.FailedPrecondition,
  );
}

/** Checkout's turn: see the module comment. */
export async function checkout(
  request: CheckoutRequest,
  turn: Turn<typeof CartStateSchema>,
  deps: CheckoutDeps,
): Promise<MessageInitShape<typeof CheckoutResponseSchema>> {
  const state = turn.state;
  if (request.generation !== state.generation) {
    const last = state.lastCheckout;
    if (last?.order !== undefined && last.generation === request.generation) {
      return { order: last.order, cart: cartOf(turn.key, state) };
    }
    throw new ConnectError(
      `cart "${turn.key}" is at generation ${state.generation}: generation ${request.generation} ${request.generation < state.generation ? "was checked out before" : "does not exist"}`,
      Code.FailedPrecondition,
    );
  }
  if (state.lines.length === 0) {
    throw new ConnectError(`cart "${turn.key}" is empty: nothing to check out`, Code.FailedPrecondition);
  }
  if (!state.checkoutStarted) {
    state.checkoutStarted = true;
    await turn.save();
  }
  let order: Order | undefined;
  try {
    ({ order } = await deps.orders.placeOrder({
      idempotencyKey: checkoutKeyOf(turn.key, state),
      userId: turn.key,
      items: state.lines.map(({ productId, quantity }) => ({ productId, quantity })),
      shippingAddress: request.shippingAddress,
      paymentMethodToken: request.paymentMethodToken,
    }));
  } catch (err) {
    // The order actor refuses the items (a product withdrawn since it was added): the cart's
    // content is what stands in the way, not the Checkout request.
    if (err instanceof ConnectError && err.code === Code.InvalidArgument) {
      throw new ConnectError(
        `cart "${turn.key}" cannot be ordered: ${err.rawMessage}`,
        Code.FailedPrecondition,
        undefined,
        undefined,
        err,
      );
    }
    throw err;
  }
  if (
    order === undefined ||
    order.status === OrderStatus.UNSPECIFIED ||
    order.status === OrderStatus.PENDING
  ) {
    // PlaceOrder answers PAID or CANCELLED; anything else is not settled, and a retry (same key) settles it.
    throw new ConnectError(`the order of cart "${turn.key}" is not settled yet; retry`, Code.Unavailable);
  }
  state.checkoutStarted = false;
  if (order.status === OrderStatus.CANCELLED) {
    state.revision += 1n;
    await deps.afterChange(turn);
    return { order, cart: cartOf(turn.key, state) };
  }
  state.lastCheckout = create(CheckoutRecordSchema, { generation: state.generation, order });
  state.lines = [];
  state.generation += 1n;
  state.revision += 1n;
  state.updatedAt = timestampNow();
  await deps.afterChange(turn);
  return { order, cart: cartOf(turn.key, state) };
}
