/**
 * PlaceOrder's input, checked and normalised (`checkPlaceOrder`), and its items priced with the
 * product actor (`priceItems`, ProductService.LookupProducts): every failure of the caller's
 * making is `invalid_argument` naming the field or the product, as order.proto says.
 */
import { create, equals } from "@bufbuild/protobuf";
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import { type Money, MoneySchema } from "../../proto/gen/shop/v1/money_pb.ts";
import {
  type Address,
  AddressSchema,
  type Order,
  type OrderLine,
  OrderLineSchema,
  type PlaceOrderRequest,
} from "../../proto/gen/shop/v1/order_pb.ts";
import type { LookupProductsResponse, ProductService } from "../../proto/gen/shop/v1/product_pb.ts";

export const MAX_ITEMS = 100;
const MAX_KEY_LENGTH = 100;
const MAX_ADDRESS_LINES = 3;
const COUNTRY_CODE = /^[A-Z]{2}$/;

/** A PlaceOrder request, checked; items merged per product, in the order they first appear. */
export interface OrderRequest {
  readonly idempotencyKey: string;
  readonly userId: string;
  readonly items: readonly { readonly productId: string; readonly quantity: number }[];
  readonly shippingAddress: Address;
  /** Passed on to PaymentService.Charge; not stored with the order. */
  readonly paymentMethodToken: string;
}

export function checkPlaceOrder(request: PlaceOrderRequest): OrderRequest {
  const idempotencyKey = checkText(request.idempotencyKey, "idempotency_key");
  // The gateway does not forward the caller's identity yet, so callers name the user.
  const userId = checkText(request.userId, "user_id");
  if (request.items.length === 0 || request.items.length > MAX_ITEMS) {
    throw invalidArgument(`items must hold 1 to ${MAX_ITEMS} items, got ${request.items.length}`);
  }
  const quantities = new Map<string, number>();
  for (const { productId, quantity } of request.items) {
    if (productId === "") throw invalidArgument("items.product_id is required");
    if (quantity < 1) throw invalidArgument(`items: the quantity of "${productId}" must be at least 1`);
    quantities.set(productId, (quantities.get(productId) ?? 0) + quantity);
  }
  const paymentMethodToken = checkText(request.paymentMethodToken, "payment_method_token");
  const address = request.shippingAddress;
  if (address === undefined) throw invalidArgument("shipping_address is required");
  if (address.name.trim() === "") throw invalidArgument("shipping_address.name is required");
  if (address.lines.length === 0 || address.lines.length > MAX_ADDRESS_LINES) {
    throw invalidArgument(`shipping_address.lines must hold 1 to ${MAX_ADDRESS_LINES} lines`);
  }
  if (address.lines.some((line) => line.trim() === "")) {
    throw invalidArgument("shipping_address.lines must not be empty");
  }
  if (address.city.trim() === "") throw invalidArgument("shipping_address.city is required");
  if (!COUNTRY_CODE.test(address.countryCode)) {
    throw invalidArgument("shipping_address.country_code must be an ISO 3166-1 alpha-2 code, e.g. DE");
  }
  return {
    idempotencyKey,
    userId,
    items: [...quantities].map(([productId, quantity]) => ({ productId, quantity })),
    shippingAddress: address,
    paymentMethodToken,
  };
}

/** Throws `already_exists` unless `order` is what `request` asks for (a retry of the same call). */
export function checkSameOrder(order: Order, request: OrderRequest): void {
  const same =
    order.userId === request.userId &&
    order.lines.length === request.items.length &&
    order.lines.every(
      (line, i) =>
        line.productId === request.items[i]?.productId && line.quantity === request.items[i]?.quantity,
    ) &&
    order.shippingAddress !== undefined &&
    equals(AddressSchema, order.shippingAddress, request.shippingAddress);
  if (!same) {
    throw new ConnectError("idempotency_key was already used for a different order", Code.AlreadyExists);
  }
}

/** The priced lines of an order and their total. */
export interface PricedItems {
  readonly lines: OrderLine[];
  readonly total: Money;
}

/**
 * Prices `items` at the products' current prices. Unknown and inactive products and items in
 * different currencies are `invalid_argument`; the product actor's own failures pass through.
 */
export async function priceItems(
  products: Client<typeof ProductService>,
  items: OrderRequest["items"],
  options: CallOptions,
): Promise<PricedItems> {
  async function* ids() {
    for (const { productId } of items) yield { id: productId };
  }
  const found = new Map<string, LookupProductsResponse>();
  for await (const answer of products.lookupProducts(ids(), options)) found.set(answer.id, answer);

  const lines: OrderLine[] = [];
  let total: Money | undefined;
  for (const { productId, quantity } of items) {
    const product = found.get(productId)?.product;
    if (product === undefined) throw invalidArgument(`product "${productId}" not found`);
    if (!product.active) throw invalidArgument(`product "${productId}" is not for sale`);
    const price = product.price;
    if (price === undefined || price.currency === "") {
      throw new ConnectError(`product "${productId}" has no price`, Code.FailedPrecondition);
    }
    total ??= create(MoneySchema, { amountMinor: 0n, currency: price.currency });
    if (price.currency !== total.currency) {
      throw invalidArgument(
        `items are priced in different currencies (${total.currency}, ${price.currency})`,
      );
    }
    const lineTotal = create(MoneySchema, {
      amountMinor: price.amountMinor * BigInt(quantity),
      currency: price.currency,
    });
    total.amountMinor += lineTotal.amountMinor;
    lines.push(
      create(OrderLineSchema, {
        productId,
        sku: product.sku,
        name: product.name,
        quantity,
        unitPrice: price,
        lineTotal,
      }),
    );
  }
  if (total === undefined) throw invalidArgument("items must not be empty");
  return { lines, total };
}

function checkText(value: string, field: string): string {
  if (value === "") throw invalidArgument(`${field} is required`);
  if (value.length > MAX_KEY_LENGTH)
    throw invalidArgument(`${field} must be at most ${MAX_KEY_LENGTH} characters`);
  return value;
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
