/**
 * The product actor: the shop's catalogue (shop.v1.ProductService). The catalogue lives in a
 * JetStream KV bucket that every instance of the actor's namespace shares (catalog.ts): each
 * instance answers reads from its own copy, which a watch of the bucket keeps current, so a
 * change made through any instance reaches the WatchProducts streams of all of them.
 * The watch ends when the instance drains (`stop`).
 *
 * Availability follows the inventory: the catalogue starts from the shop's seed, as the inventory
 * does, and every StockAdjusted (any change of a product's stock: a sale, a hold, a restock)
 * makes the actor ask InventoryService.GetStock for the product's level and store its
 * `available`. It asks rather than copy the event's level because events of one product can be
 * published out of order (two inventory instances, a republish after a crash); asking inside
 * the product's conditional write makes the last write the newest answer.
 *
 * `actors/product/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { defineActor, implement, onEvent } from "troupe";
import { pageCursor } from "troupe/host";
import { InventoryService, StockAdjustedSchema } from "../../proto/gen/shop/v1/inventory_pb.ts";
import {
  type ListProductsRequest,
  type ListProductsResponse,
  type Product,
  ProductChangeKind,
  ProductService,
  type WatchProductsResponse,
} from "../../proto/gen/shop/v1/product_pb.ts";
import { type Catalog, openCatalog } from "./catalog.ts";

/** ListProducts: the page size for page_size 0, and the largest one served. */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
/** WatchProducts: the most products one stream may follow. */
export const MAX_WATCHED_IDS = 100;

/** The product actor, as `actors/product/main.ts` runs it. */
export const productActor = defineActor({
  name: "product",
  version: "1.0.0",
  description: "The product catalogue: products, prices and availability, and their changes as they happen.",
  serves: [ProductService],
  calls: [InventoryService],
  consumes: { events: [StockAdjustedSchema] },
  state: ["products"],
  setup: (ctx) => openCatalog(ctx),
  stop: (_ctx, catalog) => catalog.close(),
  subscriptions(ctx, catalog) {
    const inventory = ctx.client(InventoryService);
    return [
      onEvent(
        StockAdjustedSchema,
        async ({ productId }) => {
          // A product the catalogue does not have is not asked for: nothing to show.
          await catalog.refreshAvailable(productId, async () => {
            const { stock } = await inventory.getStock({ productId });
            return stock?.available ?? 0n;
          });
        },
        // One change of a product at a time per instance: fewer lost write races. An inventory
        // that is down a while (a restart) is waited for, not dead-lettered after a few seconds.
        { perKeyOrdering: true, maxAttempts: 20 },
      ),
    ];
  },
  services: (_ctx, catalog) => [
    implement(ProductService, {
      // Synchronous answers: the host's fast path.
      getProduct: (request) => ({ product: getProduct(catalog, request.id) }),

      listProducts: (request) => listProducts(catalog, request),

      async *watchProducts(request, context) {
        const ids = watchedIds(request.ids);
        // Follow before the snapshot: a change in between is sent after it, not lost. The
        // changes end with the call (its signal aborts when the caller cancels or goes away).
        const changes = catalog.changes(new Set(ids), context.signal);
        for (const id of ids) {
          const product = catalog.get(id);
          if (product !== undefined) yield snapshotOf(product);
        }
        yield* changes;
      },

      async *lookupProducts(requests) {
        for await (const { id } of requests) {
          const product = catalog.get(id);
          yield product === undefined ? { id, found: false } : { id, found: true, product };
        }
      },
    }),
  ],
});

function getProduct(catalog: Catalog, id: string): Product {
  const product = catalog.get(id);
  if (product === undefined) throw new ConnectError(`product "${id}" not found`, Code.NotFound);
  return product;
}

function listProducts(
  catalog: Catalog,
  request: ListProductsRequest,
): Pick<ListProductsResponse, "products" | "nextPageToken"> {
  const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(request.pageSize, MAX_PAGE_SIZE);
  const query = request.query.trim().toLowerCase();
  const { includeInactive } = request;
  // A token holds the last id served (the list is in id order) and is good for this filter only.
  const cursor = pageCursor(request.pageToken, { query, includeInactive });

  const products: Product[] = [];
  let more = false;
  for (const product of catalog.list()) {
    if (cursor.after !== undefined && product.id <= cursor.after) continue;
    if (!includeInactive && !product.active) continue;
    if (
      query !== "" &&
      !product.name.toLowerCase().includes(query) &&
      !product.sku.toLowerCase().includes(query)
    ) {
      continue;
    }
    if (products.length === pageSize) {
      more = true;
      break;
    }
    products.push(product);
  }
  const last = products.at(-1);
  return {
    products,
    nextPageToken: more && last !== undefined ? cursor.next(last.id) : "",
  };
}

/** The ids of a WatchProducts request without duplicates, in request order; at most 100 of them. */
function watchedIds(ids: readonly string[]): string[] {
  const unique = [...new Set(ids)];
  if (unique.length > MAX_WATCHED_IDS) {
    throw invalidArgument(`ids may name at most ${MAX_WATCHED_IDS} products, got ${unique.length}`);
  }
  return unique;
}

function snapshotOf(product: Product): Pick<WatchProductsResponse, "kind" | "product" | "changedAt"> {
  return { kind: ProductChangeKind.SNAPSHOT, product, changedAt: product.updatedAt };
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
