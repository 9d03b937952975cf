/**
 * The product actor: the shop's catalogue (shop.v1.ProductService). The catalogue lives in a
 * JetStream KV bucket that every instance of the actor's namespace shares (catalog.ts): each
 * instance answers reads from its own copy, which a watch of the bucket keeps current, so a
 * change made through any instance reaches the WatchProducts streams of all of them.
 * The watch ends when the instance drains (`stop`).
 *
 * `actors/product/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  type ListProductsRequest,
  type ListProductsResponse,
  type Product,
  ProductChangeKind,
  ProductService,
  type WatchProductsResponse,
} from "../../proto/gen/shop/v1/product_pb.ts";
import { type ActorContext, type ActorDefinition, defineActor, implement } from "../../runtime/mod.ts";
import { type Catalog, openCatalog } from "./catalog.ts";
import { openChangeFeed } from "./change-feed.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";

export interface ProductActorOptions {
  /**
   * Opens the catalogue of one instance (called once per instance, when it starts). The default
   * opens the `products` bucket in the namespace the actor is served in.
   */
  readonly catalog: (ctx: ActorContext) => Promise<Catalog>;
  /**
   * Latency added before every unary read answers, in milliseconds: for demos and drills of a
   * slow dependency (timeouts, drains). 0 in production. The wait ends early, with the call's
   * error, when the call is aborted (deadline, cancellation, the end of a drain's grace period).
   */
  readonly latencyMs: number;
}

export const defaultProductActorOptions: ProductActorOptions = {
  catalog: (ctx) => openCatalog(ctx.nc, { namespace: ctx.namespace, logger: ctx.logger }),
  latencyMs: 0,
};

/** ListProducts: the page size for page_size 0, and the largest one served. */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
/** WatchProducts: the most products one stream may follow. */
export const MAX_WATCHED_IDS = 100;
const MAX_QUERY_LENGTH = 200;

/** The product actor with some options changed (tests, demos). */
export function createProductActor(partial: Partial<ProductActorOptions> = {}): ActorDefinition {
  const options: ProductActorOptions = { ...defaultProductActorOptions, ...partial };
  if (!Number.isFinite(options.latencyMs) || options.latencyMs < 0) {
    throw new RangeError(`latencyMs must be a finite number >= 0, got ${options.latencyMs}`);
  }
  return defineActor<Catalog>({
    name: "product",
    version: "1.0.0",
    description:
      "The product catalogue: products, prices and availability, and their changes as they happen.",
    setup: (ctx) => options.catalog(ctx),
    stop: (_ctx, catalog) => catalog.close(),
    services(_ctx, catalog) {
      /** Answers after the configured latency; synchronously (the host's fast path) without one. */
      const answer = <T>(context: HandlerContext, result: () => T): T | Promise<T> =>
        options.latencyMs === 0 ? result() : sleep(options.latencyMs, context.signal).then(result);

      return [
        implement(ProductService, {
          getProduct: (request, context) =>
            answer(context, () => ({ product: getProduct(catalog, request.id) })),

          listProducts: (request, context) => answer(context, () => listProducts(catalog, request)),

          async *watchProducts(request, context) {
            const ids = watchedIds(request.ids);
            // Subscribe before the snapshot: a change in between is sent after it, not lost.
            const feed = openChangeFeed(catalog, new Set(ids), context.signal);
            try {
              for (const id of ids) {
                const product = catalog.get(id);
                if (product !== undefined) yield snapshotOf(product);
              }
              yield* feed;
            } finally {
              feed.close();
            }
          },

          async *lookupProducts(requests) {
            for await (const { id } of requests) {
              const product = catalog.get(id);
              yield product === undefined ? { id, found: false } : { id, found: true, product };
            }
          },
        }),
      ];
    },
  });
}

/** The product actor as `actors/product/main.ts` runs it. */
export const productActor: ActorDefinition = createProductActor();

function getProduct(catalog: Catalog, id: string): Product {
  if (id === "") throw invalidArgument("id is required");
  const product = catalog.get(id);
  if (product === undefined) throw new ConnectError(`product "${id}" not found`, Code.NotFound);
  return product;
}

function listProducts(
  catalog: Catalog,
  request: ListProductsRequest,
): Pick<ListProductsResponse, "products" | "nextPageToken"> {
  if (request.pageSize < 0) throw invalidArgument(`page_size must not be negative, got ${request.pageSize}`);
  if (request.query.length > MAX_QUERY_LENGTH) {
    throw invalidArgument(`query must be at most ${MAX_QUERY_LENGTH} characters`);
  }
  const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(request.pageSize, MAX_PAGE_SIZE);
  const query = request.query.trim().toLowerCase();
  const { includeInactive } = request;
  const after =
    request.pageToken === "" ? undefined : decodePageToken(request.pageToken, query, includeInactive).after;

  const products: Product[] = [];
  let more = false;
  for (const product of catalog.list()) {
    if (after !== undefined && product.id <= after) continue;
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
    nextPageToken:
      more && last !== undefined ? encodePageToken({ after: last.id, query, includeInactive }) : "",
  };
}

/** The ids of a WatchProducts request, checked, without duplicates, in request order. */
function watchedIds(ids: readonly string[]): string[] {
  if (ids.length === 0) throw invalidArgument("ids must name at least one product");
  const unique = [...new Set(ids)];
  if (unique.length > MAX_WATCHED_IDS) {
    throw invalidArgument(`ids may name at most ${MAX_WATCHED_IDS} products, got ${unique.length}`);
  }
  if (unique.includes("")) throw invalidArgument("ids must not contain an empty id");
  return unique;
}

function snapshotOf(product: Product): Pick<WatchProductsResponse, "kind" | "product" | "changedAt"> {
  return { kind: ProductChangeKind.SNAPSHOT, product, changedAt: product.updatedAt };
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
