/**
 * The product actor's catalogue: the products in a JetStream KV bucket (`products`, one
 * protobuf Product per id), shared by every instance. Each instance keeps a copy in memory that
 * one watch of the bucket keeps current, so reads answer at once (the host's synchronous fast
 * path) and a change written by any instance reaches every instance's WatchProducts streams.
 *
 * An empty catalogue is seeded with the shop's seed (actors/shared), one create-only put per
 * product, so instances that start together seed it once; the inventory is stocked from the same
 * seed, and each product's `available` then follows the inventory (`refreshAvailable`). Changes are read-modify-writes
 * at the product's revision (`update`), so concurrent changes of one product are never lost.
 * Products are immutable values: a change replaces the stored message.
 */
import { equals } from "@bufbuild/protobuf";
import { type Timestamp, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ActorContext, StateStore } from "troupe";
import { type Money, MoneySchema } from "../../proto/gen/shop/v1/money_pb.ts";
import { type Product, ProductChangeKind, ProductSchema } from "../../proto/gen/shop/v1/product_pb.ts";
import { seedProducts } from "../shared/seed-products.ts";

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
  /** Changes the price; `not_found` for an unknown id. */
  setPrice(id: string, price: Money): Promise<Product>;
  /** Changes the available quantity; `not_found` for an unknown id. */
  setAvailable(id: string, available: bigint): Promise<Product>;
  /**
   * Sets the available quantity to what `current()` answers (the inventory's level), asked
   * inside the conditional write, so that of two concurrent refreshes the one written last
   * asked last. Undefined for a product the catalogue does not have (nothing is asked).
   */
  refreshAvailable(id: string, current: () => Promise<bigint>): Promise<Product | undefined>;
  /** Withdraws the product from sale (active = false); `not_found` for an unknown id. */
  withdraw(id: string): Promise<Product>;
  /**
   * The changes of the products `ids` from now on, whichever instance made them (following
   * starts at once, not at the first read), until `signal` aborts or the catalogue closes.
   */
  changes(ids: ReadonlySet<string>, signal: AbortSignal): AsyncIterable<ProductChange>;
  /** Stops following the bucket. */
  close(): void;
}

/** Opens the shared catalogue (seeding it if it is new) and follows its changes. */
export async function openCatalog(ctx: Pick<ActorContext, "state" | "logger">): Promise<Catalog> {
  const store = await ctx.state("products", ProductSchema);
  await seedIfNew(store, seedProducts());
  const copy = await store.mirror();
  // A copy that stops following the bucket goes stale, which must not go unnoticed.
  void copy.stopped.then((err) => {
    if (err === undefined) return;
    const reason = err instanceof Error ? err.message : String(err);
    ctx.logger.log("error", "the catalogue stopped following its bucket", { bucket: store.bucket, reason });
  });

  const change = async (id: string, patch: Partial<Product>): Promise<Product> => {
    const entry = await store.update(id, (current) => {
      if (current === undefined) throw new ConnectError(`product "${id}" not found`, Code.NotFound);
      // protobuf-es messages are plain objects: a spread is a new message of the same type.
      return { ...current, ...patch, updatedAt: timestampNow() };
    });
    if (entry === undefined) throw new ConnectError(`product "${id}" not found`, Code.NotFound);
    copy.apply(entry); // read your own write, before the watch echoes it
    return entry.value;
  };

  return {
    get: (id) => copy.get(id),
    list: () => copy.values(),
    setPrice: (id, price) => change(id, { price }),
    setAvailable: (id, available) => change(id, { available }),
    withdraw: (id) => change(id, { active: false }),
    async refreshAvailable(id, current) {
      if (copy.get(id) === undefined) return undefined;
      const entry = await store.update(id, async (product) => {
        if (product === undefined) return undefined;
        const available = await current();
        return available === product.available
          ? undefined
          : { ...product, available, updatedAt: timestampNow() };
      });
      if (entry !== undefined) copy.apply(entry);
      return entry?.value;
    },
    changes(ids, signal) {
      const changes = copy.changes(signal);
      return (async function* () {
        for await (const { value: product, previous } of changes) {
          if (product === undefined || !ids.has(product.id)) continue;
          for (const kind of changesBetween(previous, product)) {
            yield { kind, product, changedAt: product.updatedAt ?? timestampNow() };
          }
        }
      })();
    },
    close: () => copy.close(),
  };
}

/**
 * Seeds an empty catalogue (no product has a value). Create-only puts make instances that start
 * together write each product once; a product one of them wrote first is left as it is.
 */
async function seedIfNew(
  store: StateStore<typeof ProductSchema>,
  products: readonly Product[],
): Promise<void> {
  if ((await store.keys()).length > 0) return;
  const ids = new Set<string>();
  for (const product of products) {
    if (ids.has(product.id)) throw new Error(`duplicate product id "${product.id}" in the seed`);
    ids.add(product.id);
  }
  // A product another instance wrote first is left as it is.
  await Promise.all(products.map((product) => store.create(product.id, product)));
}

/**
 * What WatchProducts reports for a product that went from `before` to `after`: a product that
 * appears is a SNAPSHOT, then one message per kind of change (several writes that the watch
 * sees as one are still reported each); changes of other fields are not reported.
 */
function changesBetween(before: Product | undefined, after: Product): ProductChangeKind[] {
  if (before === undefined) return [ProductChangeKind.SNAPSHOT];
  const kinds: ProductChangeKind[] = [];
  const samePrice =
    before.price === undefined || after.price === undefined
      ? before.price === after.price
      : equals(MoneySchema, before.price, after.price);
  if (!samePrice) kinds.push(ProductChangeKind.PRICE);
  if (before.available !== after.available) kinds.push(ProductChangeKind.STOCK);
  if (before.active && !after.active) kinds.push(ProductChangeKind.WITHDRAWN);
  return kinds;
}
