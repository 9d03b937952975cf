/**
 * The inventory's first stock: at start, every product of the shop's seed (actors/shared) that has
 * never been stocked gets the seed's units, so a fresh shop sells what its catalogue shows. Each
 * product's seeding is one ledger adjustment with a fixed id (`inventory:seed:<product id>`), so
 * it happens at most once, however often and on however many instances the inventory starts; a
 * product stocked by other means first (a restock, an import) is left as it is.
 */
import { type StockAdjusted, StockAdjustmentReason } from "../../proto/gen/shop/v1/inventory_pb.ts";
import type { SeedStock } from "../shared/seed-products.ts";
import { INTERNAL_ADJUSTMENT_PREFIX } from "./reservations.ts";
import { isRefusal, type StockLedger } from "./stock-ledger.ts";

/** Stocks the products of `seed` never stocked before; returns the changes made now. */
export async function seedInventory(
  ledger: StockLedger,
  seed: readonly SeedStock[],
): Promise<StockAdjusted[]> {
  const changes: StockAdjusted[] = [];
  for (const { productId, onHand } of seed) {
    const outcome = await ledger.apply(
      productId,
      `${INTERNAL_ADJUSTMENT_PREFIX}seed:${productId}`,
      (level) =>
        level.onHand !== 0n || level.reserved !== 0n
          ? "stocked already"
          : { delta: onHand, reservedDelta: 0n, reason: StockAdjustmentReason.RESTOCK },
    );
    if (!isRefusal(outcome) && outcome.fresh) changes.push(outcome.record);
  }
  return changes;
}
