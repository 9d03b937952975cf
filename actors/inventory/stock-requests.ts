/**
 * The check of what the inventory takes in that no contract rule checks for it: ImportStock
 * lines (whose bad lines are reported, not refused), failing with `invalid_argument` naming the
 * field. InventoryService requests are checked by inventory.proto's rules before the handler
 * runs. A product id is a KV key and an event key, so it must be one subject token (the same
 * rule as inventory.proto's `product_id`).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { isStateKey } from "troupe/jetstream";
import type { StockItem } from "../../proto/gen/shop/v1/inventory_pb.ts";

const MAX_ID_LENGTH = 100;

/** A product id, checked: one KV key token and one subject token. */
export function checkProductId(id: string, field = "product_id"): string {
  if (id === "") throw invalidArgument(`${field} is required`);
  if (id.length > MAX_ID_LENGTH || id.includes(".") || !isStateKey(id)) {
    throw invalidArgument(`${field} "${id}" is not a valid product id`);
  }
  return id;
}

/** Items sorted by product id: the order a reservation takes its products in. */
export function sortedItems(items: readonly StockItem[]): StockItem[] {
  return [...items].sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
