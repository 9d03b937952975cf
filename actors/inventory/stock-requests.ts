/**
 * The checks of what the inventory is asked to do (InventoryService requests and OrderPlaced
 * events), each failing with `invalid_argument` naming the field. A product id is a KV key and
 * an event key, so it must be one subject token.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type AdjustStockRequest,
  StockAdjustmentReason,
  type StockItem,
  StockItemSchema,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import type { OrderPlaced } from "../../proto/gen/shop/v1/order_pb.ts";
import { isStateKey } from "../../runtime/mod.ts";
import { INTERNAL_ADJUSTMENT_PREFIX } from "./reservations.ts";

/** ReserveStock and OrderPlaced: the most items (products) one reservation holds. */
export const MAX_ITEMS = 100;
const MAX_ID_LENGTH = 100;

/** A product id, checked: one KV key token and one subject token. */
export function checkProductId(id: string, field = "product_id"): string {
  if (id === "") throw invalidArgument(`${field} is required`);
  if (id.length > MAX_ID_LENGTH || id.includes(".") || !isStateKey(id)) {
    throw invalidArgument(`${field} "${id}" is not a valid product id`);
  }
  return id;
}

export function checkId(id: string, field: string): string {
  if (id === "") throw invalidArgument(`${field} is required`);
  if (id.length > MAX_ID_LENGTH)
    throw invalidArgument(`${field} must be at most ${MAX_ID_LENGTH} characters`);
  return id;
}

/** ReserveStock's items: 1 to 100, one per product, each at least 1 unit; sorted by product id. */
export function checkReserveItems(items: readonly StockItem[]): StockItem[] {
  if (items.length === 0 || items.length > MAX_ITEMS) {
    throw invalidArgument(`items must hold 1 to ${MAX_ITEMS} products, got ${items.length}`);
  }
  const seen = new Set<string>();
  for (const { productId, quantity } of items) {
    checkProductId(productId, "items.product_id");
    if (seen.has(productId)) throw invalidArgument(`items name "${productId}" more than once`);
    seen.add(productId);
    if (quantity < 1n) throw invalidArgument(`items: the quantity of "${productId}" must be at least 1`);
  }
  return sortedItems(items);
}

/** The stock an order takes: its lines merged per product, sorted by product id. */
export function itemsOfOrder(order: OrderPlaced): StockItem[] {
  checkId(order.orderId, "order_id");
  const quantities = new Map<string, bigint>();
  for (const { productId, quantity } of order.lines) {
    checkProductId(productId, "lines.product_id");
    if (quantity < 1) throw invalidArgument(`lines: the quantity of "${productId}" must be at least 1`);
    quantities.set(productId, (quantities.get(productId) ?? 0n) + BigInt(quantity));
  }
  if (quantities.size === 0 || quantities.size > MAX_ITEMS) {
    throw invalidArgument(`an order must hold 1 to ${MAX_ITEMS} products, got ${quantities.size}`);
  }
  return sortedItems(
    [...quantities].map(([productId, quantity]) => create(StockItemSchema, { productId, quantity })),
  );
}

/** What AdjustStock's sign rules and required fields allow (see inventory.proto). */
export function checkAdjustment(request: AdjustStockRequest): void {
  checkId(request.adjustmentId, "adjustment_id");
  if (request.adjustmentId.startsWith(INTERNAL_ADJUSTMENT_PREFIX)) {
    throw invalidArgument(`adjustment_id must not start with "${INTERNAL_ADJUSTMENT_PREFIX}"`);
  }
  checkProductId(request.productId);
  const { delta, reason } = request;
  if (delta === 0n) throw invalidArgument("delta must not be 0");
  const sign = SIGN_OF[reason];
  if (sign === undefined) throw invalidArgument(`reason ${reasonName(reason)} is not allowed here`);
  if (sign !== 0 && (delta > 0n ? 1 : -1) !== sign) {
    throw invalidArgument(
      `delta must be ${sign > 0 ? "positive" : "negative"} for reason ${reasonName(reason)}`,
    );
  }
  if (request.reservationId !== "" && reason !== StockAdjustmentReason.SALE) {
    throw invalidArgument("reservation_id is only for reason SALE");
  }
}

/** The sign of delta each reason needs (0: either); reasons missing here are refused (IMPORT is ImportStock's). */
const SIGN_OF: Partial<Record<StockAdjustmentReason, -1 | 0 | 1>> = {
  [StockAdjustmentReason.RESTOCK]: 1,
  [StockAdjustmentReason.SALE]: -1,
  [StockAdjustmentReason.RETURN]: 1,
  [StockAdjustmentReason.DAMAGE]: -1,
  [StockAdjustmentReason.CORRECTION]: 0,
};

function reasonName(reason: StockAdjustmentReason): string {
  return Object.entries(StockAdjustmentReason).find(([, value]) => value === reason)?.[0] ?? String(reason);
}

function sortedItems(items: readonly StockItem[]): StockItem[] {
  return [...items].sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
}

export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
