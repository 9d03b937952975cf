/**
 * The product actor's catalogue: the products in a JetStream KV bucket (`products`, one
 * protobuf Product per id), shared by every instance. Each instance keeps a copy in memory that
 * one watch of the bucket keeps current, so reads answer at once (the host's synchronous fast
 * path) and a change written by any instance reaches every instance's WatchProducts streams.
 *
 * An empty catalogue is seeded with seed-products.ts, one create-only put per product, so
 * instances that start together seed it once. Changes are read-modify-writes
 * at the product's revision (`update`), so concurrent changes of one product are never lost.
 * Products are immutable values: a change replaces the stored message.
 */
import { equals } from "@bufbuild/protobuf";
import { type Timestamp, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Money, MoneySchema } from "../../proto/gen/shop/v1/money_pb.ts";
import { type Product, ProductChangeKind, ProductSchema } from "../../proto/gen/shop/v1/product_pb.ts";
import { type Logger, openStateStore, type StateStore, silentLogger } from "../../runtime/mod.ts";
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
  /** Changes the price; `not_found` for an unknown id. */
  setPrice(id: string, price: Money): Promise<Product>;
  /** Changes the available quantity; `not_found` for an unknown id. */
  setAvailable(id: string, available: bigint): Promise<Product>;
  /** Withdraws the product from sale (active = false); `not_found` for an unknown id. */
  withdraw(id: string): Promise<Product>;
  /** Calls `listener` with every change from now on, whichever instance made it; returns the unsubscribe function. */
  subscribe(listener: (change: ProductChange) => void): () => void;
  /** Stops following the bucket. */
  close(): void;
}

export interface CatalogOptions {
  /** Prefixes the bucket name, as it prefixes the actor's subjects. */
  readonly namespace: string;
  readonly bucket: string;
  /** The products a new catalogue starts with. */
  readonly seed: () => readonly Product[];
  /** Told when the catalogue stops following the bucket. */
  readonly logger: Logger;
}

export const defaultCatalogOptions: CatalogOptions = {
  namespace: "",
  bucket: "products",
  seed: seedProducts,
  logger: silentLogger,
};

/** Opens the shared catalogue (seeding it if it is new) and follows its changes. */
export async function openCatalog(
  nc: NatsConnection,
  partial: Partial<CatalogOptions> = {},
): Promise<Catalog> {
  const options = { ...defaultCatalogOptions, ...partial };
  const store = await openStateStore(nc, {
    bucket: options.bucket,
    namespace: options.namespace,
    schema: ProductSchema,
  });
  // Follow first, then read: a change in between arrives through the watch (and is applied if
  // it is newer than what was read), so none is missed.
  const watch = await store.watch(undefined, { updatesOnly: true });
  await seedIfNew(store, options.seed());

  const byId = new Map<string, Product>();
  /** The revision applied last per id, deletions included, so that an older one is never applied. */
  const revisions = new Map<string, number>();
  let sorted: Product[] | undefined;
  const listeners = new Set<(change: ProductChange) => void>();

  /** Takes a newer revision of a product (undefined: deleted) and tells listeners what changed. */
  const apply = (key: string, product: Product | undefined, revision: number) => {
    if ((revisions.get(key) ?? 0) >= revision) return; // applied already, or older than what was
    revisions.set(key, revision);
    const current = byId.get(key);
    sorted = undefined;
    if (product === undefined) {
      byId.delete(key);
      return;
    }
    byId.set(key, product);
    for (const kind of changesBetween(current, product)) {
      const change = { kind, product, changedAt: product.updatedAt ?? timestampNow() };
      for (const listener of [...listeners]) listener(change);
    }
  };

  const entries = await Promise.all((await store.keys()).map((key) => store.get(key)));
  for (const entry of entries) if (entry !== undefined) apply(entry.key, entry.value, entry.revision);
  // The watch ends with the connection or close(). It fails when it cannot be re-established or
  // a stored product does not decode: the copy then goes stale, which must not go unnoticed.
  void (async () => {
    for await (const change of watch) apply(change.key, change.value, change.revision);
  })().catch((err: unknown) => {
    const reason = err instanceof Error ? err.message : String(err);
    options.logger.log("error", "the catalogue stopped following its bucket", {
      bucket: store.bucket,
      reason,
    });
  });

  const change = async (id: string, patch: Partial<Product>): Promise<Product> => {
    const entry = await store.update(id, (current) => {
      if (current === undefined) throw new ConnectError(`product "${id}" not found`, Code.NotFound);
      // protobuf-es messages are plain objects: a spread is a new message of the same type.
      return { ...current, ...patch, updatedAt: timestampNow() };
    });
    if (entry === undefined) throw new ConnectError(`product "${id}" not found`, Code.NotFound);
    apply(id, entry.value, entry.revision); // read your own write, before the watch echoes it
    return entry.value;
  };

  return {
    get: (id) => byId.get(id),
    list() {
      sorted ??= [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return sorted;
    },
    setPrice: (id, price) => change(id, { price }),
    setAvailable: (id, available) => change(id, { available }),
    withdraw: (id) => change(id, { active: false }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: () => watch.stop(),
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
  await Promise.all(
    products.map((product) =>
      store.put(product.id, product, { expectedRevision: 0 }).catch((err: unknown) => {
        if (!(err instanceof ConnectError && err.code === Code.Aborted)) throw err; // another instance seeded it
      }),
    ),
  );
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
