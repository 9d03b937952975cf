/**
 * A cart's lines and what the cart contract shows of them (shop/v1/cart.proto): adding a product
 * at its catalogue price within the cart's limits, removing a line, and the Cart message with
 * its subtotal. Pure functions over the stored state (cart_state.proto); money is integer minor
 * units, so totals are exact.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CartState } from "../../proto/gen/shop/cart/state/v1/cart_state_pb.ts";
import { type Cart, type CartLine, CartLineSchema, CartSchema } from "../../proto/gen/shop/v1/cart_pb.ts";
import { type Money, MoneySchema } from "../../proto/gen/shop/v1/money_pb.ts";
import type { Product } from "../../proto/gen/shop/v1/product_pb.ts";

/** The most lines a cart holds (an order takes at most 100 items). */
export const MAX_LINES = 50;
/** The most units of one product a cart holds. */
export const MAX_LINE_QUANTITY = 99;

/**
 * The lines with `quantity` more units of `product`, priced at its current price: a new line at
 * the end, or the product's line with more units. `failed_precondition` for a product not for
 * sale or without a price, another currency than the other lines', or the cart's limits.
 */
export function addLine(lines: readonly CartLine[], product: Product, quantity: number): CartLine[] {
  if (!product.active) throw failedPrecondition(`product "${product.id}" is not for sale`);
  const price = product.price;
  if (price === undefined || price.currency === "") {
    throw failedPrecondition(`product "${product.id}" has no price`);
  }
  const other = lines.find((line) => line.productId !== product.id);
  const currency = other?.unitPrice?.currency;
  if (currency !== undefined && currency !== price.currency) {
    throw failedPrecondition(
      `product "${product.id}" is priced in ${price.currency}, the cart in ${currency}: order them separately`,
    );
  }
  const at = lines.findIndex((line) => line.productId === product.id);
  const units = (at === -1 ? 0 : (lines[at] as CartLine).quantity) + quantity;
  if (units > MAX_LINE_QUANTITY) {
    throw failedPrecondition(
      `a cart holds at most ${MAX_LINE_QUANTITY} units of a product; "${product.id}" would have ${units}`,
    );
  }
  if (at === -1 && lines.length >= MAX_LINES) {
    throw failedPrecondition(`a cart holds at most ${MAX_LINES} products`);
  }
  const line = create(CartLineSchema, {
    productId: product.id,
    sku: product.sku,
    name: product.name,
    quantity: units,
    unitPrice: price,
    lineTotal: create(MoneySchema, {
      amountMinor: price.amountMinor * BigInt(units),
      currency: price.currency,
    }),
  });
  return at === -1 ? [...lines, line] : lines.map((l, i) => (i === at ? line : l));
}

/** The lines without `productId`'s; the same array when it has none. */
export function removeLine(lines: CartLine[], productId: string): CartLine[] {
  return lines.some((line) => line.productId === productId)
    ? lines.filter((line) => line.productId !== productId)
    : lines;
}

/** Units in the cart, over all lines. */
export function unitsOf(lines: readonly CartLine[]): number {
  return lines.reduce((sum, line) => sum + line.quantity, 0);
}

/** The sum of the line totals; undefined for no lines. */
export function subtotalOf(lines: readonly CartLine[]): Money | undefined {
  const first = lines[0]?.lineTotal;
  if (first === undefined) return undefined;
  const amountMinor = lines.reduce((sum, line) => sum + (line.lineTotal?.amountMinor ?? 0n), 0n);
  return create(MoneySchema, { amountMinor, currency: first.currency });
}

/** The cart `cartId` as the contract shows it. */
export function cartOf(cartId: string, state: CartState): Cart {
  const subtotal = subtotalOf(state.lines);
  return create(CartSchema, {
    cartId,
    lines: state.lines,
    generation: state.generation,
    ...(subtotal === undefined ? {} : { subtotal }),
    ...(state.updatedAt === undefined ? {} : { updatedAt: state.updatedAt }),
    checkoutPending: state.checkoutStarted,
  });
}

function failedPrecondition(message: string): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition);
}
