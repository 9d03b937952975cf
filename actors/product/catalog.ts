/**
 * The product actor's catalogue: products by id, kept in memory, and a change feed that
 * WatchProducts follows. Products are protobuf messages treated as immutable values: a change
 * replaces the stored message, so a reader never sees one half-updated.
 *
 * Price and availability changes arrive through `setPrice` and `setAvailable` (the inventory's
 * StockAdjusted events feed the latter once events exist).
 */
import { type Timestamp, timestampNow } from "@bufbuild/protobuf/wkt";
import type { Money } from "../../proto/gen/shop/v1/money_pb.ts";
import { type Product, ProductChangeKind } from "../../proto/gen/shop/v1/product_pb.ts";
import { seedProducts } from "./seed-products.ts";

/** One change of one product, as WatchProducts reports it. */
export interface ProductChange {
  readonly kind: ProductChangeKind;
  /** The whole product after the change. */
  readonly product: Product;
  readonly changedAt: Timestamp;
}

export interface Catalog {
  /** The product with this id, or undefined. */
  get(id: string): Product | undefined;
  /** Every product, ordered by id. */
  list(): readonly Product[];
  /** Changes the price; throws for an unknown id. */
  setPrice(id: string, price: Money): Product;
  /** Changes the available quantity; throws for an unknown id. */
  setAvailable(id: string, available: bigint): Product;
  /** Withdraws the product from sale (active = false); throws for an unknown id. */
  withdraw(id: string): Product;
  /** Calls `listener` with every change from now on; returns the unsubscribe function. */
  subscribe(listener: (change: ProductChange) => void): () => void;
}

/** A catalogue holding `products` (by default, the seed catalogue). */
export function createCatalog(products: readonly Product[] = seedProducts()): Catalog {
  const byId = new Map<string, Product>();
  for (const product of products) {
    if (byId.has(product.id)) throw new Error(`duplicate product id "${product.id}"`);
    byId.set(product.id, product);
  }
  let sorted: Product[] | undefined;
  const listeners = new Set<(change: ProductChange) => void>();

  const change = (id: string, kind: ProductChangeKind, patch: Partial<Product>): Product => {
    const current = byId.get(id);
    if (current === undefined) throw new Error(`no product has the id "${id}"`);
    const changedAt = timestampNow();
    // protobuf-es messages are plain objects: a spread is a new message of the same type.
    const product: Product = { ...current, ...patch, updatedAt: changedAt };
    byId.set(id, product);
    sorted = undefined;
    for (const listener of [...listeners]) listener({ kind, product, changedAt });
    return product;
  };

  return {
    get: (id) => byId.get(id),
    list() {
      sorted ??= [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return sorted;
    },
    setPrice: (id, price) => change(id, ProductChangeKind.PRICE, { price }),
    setAvailable: (id, available) => change(id, ProductChangeKind.STOCK, { available }),
    withdraw: (id) => change(id, ProductChangeKind.WITHDRAWN, { active: false }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
