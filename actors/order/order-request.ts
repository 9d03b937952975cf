/**
 * PlaceOrder's input, normalised (`checkPlaceOrder`), and its items priced with the product actor
 * (`priceItems`, ProductService.LookupProducts): every failure of the caller's making is
 * `invalid_argument` naming the field or the product, as order.proto says. The request's shape
 * (required fields, lengths, 1 to 100 items, the address) is order.proto's rules, which the host
 * checks before the handler runs.
 */
import { create, equals } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
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

const MAX_KEY_LENGTH = 100;

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
  const { idempotencyKey, shippingAddress, paymentMethodToken } = request;
  // The order actor has put the caller in an empty user_id already (user-of-call.ts); one is needed.
  const userId = checkText(request.userId, "user_id");
  if (shippingAddress === undefined) throw invalidArgument("shipping_address is required");
  const quantities = new Map<string, number>();
  for (const { productId, quantity } of request.items) {
    quantities.set(productId, (quantities.get(productId) ?? 0) + quantity);
  }
  const items = [...quantities].map(([productId, quantity]) => ({ productId, quantity }));
  return { idempotencyKey, userId, items, shippingAddress, paymentMethodToken };
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
): Promise<PricedItems> {
  async function* ids() {
    for (const { productId } of items) yield { id: productId };
  }
  const found = new Map<string, LookupProductsResponse>();
  for await (const answer of products.lookupProducts(ids())) found.set(answer.id, answer);

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
