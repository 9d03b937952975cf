/**
 * The stock of every product, changed by named adjustments that each take effect at most once,
 * in two JetStream KV buckets shared by every inventory instance:
 *
 *   inventory_stock        product id → the StockAdjusted that wrote the current level
 *   inventory_adjustments  adjustment id (stateKeyOf) → the StockAdjusted it wrote
 *
 * An adjustment is one conditional write of the product's record (at the revision it read), and
 * that record names the adjustment: the change and its "done" marker are one write, so a process
 * that dies before, during or after it leaves the change made once or not at all. The index of
 * past adjustments is filled after the write, and also by the next writer of the product, which
 * indexes the record it is about to overwrite before its own write can succeed. So, at every
 * moment, an adjustment that was applied is in the product's record or in the index, and
 * `apply` and `find`, which read the record first and then the index, never miss one.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ActorContext } from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import {
  type StockAdjusted,
  StockAdjustedSchema,
  type StockAdjustmentReason,
  type StockLevel,
  StockLevelSchema,
} from "../../proto/gen/shop/v1/inventory_pb.ts";

/** A change of one product's stock, as an adjustment decides it from the current level. */
export interface StockChange {
  /** Change of on_hand. */
  readonly delta: bigint;
  /** Change of reserved. */
  readonly reservedDelta: bigint;
  readonly reason: StockAdjustmentReason;
}

/** Why an adjustment was not made (nothing was written). */
export interface Refusal {
  readonly refused: string;
  /** The level the decision was made on. */
  readonly level: StockLevel;
}

/** An adjustment that took effect: now (`fresh`) or earlier, by this or another instance. */
export interface Applied {
  readonly record: StockAdjusted;
  readonly fresh: boolean;
}

/**
 * Decides an adjustment from the product's current level and the adjustments of `watch` that
 * were applied to it as of that level; called once per attempt, without other effects.
 */
export type Decide = (level: StockLevel, seen: ReadonlySet<string>) => StockChange | string;

export interface StockLedger {
  /** The product's level; all zeros for a product never stocked. */
  level(productId: string): Promise<StockLevel>;
  /** The record of `adjustmentId` if it took effect on the product, else undefined. */
  find(productId: string, adjustmentId: string): Promise<StockAdjusted | undefined>;
  /**
   * Applies `adjustmentId` to the product unless it was applied already (then returns what it
   * did). `watch` names other adjustments of this product that `decide` needs to know about.
   */
  apply(
    productId: string,
    adjustmentId: string,
    decide: Decide,
    watch?: readonly string[],
  ): Promise<Applied | Refusal>;
  /** Records `record` under another id too (a caller's id for an adjustment made under an internal one). */
  alias(adjustmentId: string, record: StockAdjusted): Promise<StockAdjusted>;
}

/** How many times an adjustment reads and writes before it gives up with `aborted`. */
const MAX_ATTEMPTS = 50;

export async function openStockLedger(ctx: Pick<ActorContext, "state">): Promise<StockLedger> {
  const [stock, index] = await Promise.all([
    ctx.state("inventory_stock", StockAdjustedSchema, { maxUpdateAttempts: MAX_ATTEMPTS }),
    ctx.state("inventory_adjustments", StockAdjustedSchema),
  ]);

  const recorded = async (adjustmentId: string) => (await index.get(stateKeyOf(adjustmentId)))?.value;
  const alias = (adjustmentId: string, record: StockAdjusted) =>
    index.claim(stateKeyOf(adjustmentId), record);

  const apply: StockLedger["apply"] = async (productId, adjustmentId, decide, watch = []) => {
    // Set when an attempt finds the adjustment made, or refuses it: then nothing is written.
    let outcome: Applied | Refusal | undefined;
    const written = await stock.update(productId, async (record) => {
      outcome = undefined;
      // The record first, then the index: an adjustment overwritten in between was indexed
      // before it was overwritten, so one of the two reads sees it.
      if (record?.adjustmentId === adjustmentId) {
        outcome = { record: await alias(adjustmentId, record), fresh: false };
        return undefined;
      }
      const earlier = await recorded(adjustmentId);
      if (earlier !== undefined) {
        outcome = { record: earlier, fresh: false };
        return undefined;
      }
      const seen = new Set<string>();
      for (const id of watch) {
        if (record?.adjustmentId === id || (await recorded(id)) !== undefined) seen.add(id);
      }
      const level = record?.stock ?? zeroLevel(productId);
      const change = decide(level, seen);
      if (typeof change === "string") {
        outcome = { refused: change, level };
        return undefined;
      }
      if (record !== undefined && record.adjustmentId !== "") {
        await alias(record.adjustmentId, record); // before it can be overwritten
      }
      const onHand = level.onHand + change.delta;
      const reserved = level.reserved + change.reservedDelta;
      const adjustedAt = timestampNow();
      return create(StockAdjustedSchema, {
        productId,
        delta: change.delta,
        reason: change.reason,
        stock: { productId, onHand, reserved, available: onHand - reserved, updatedAt: adjustedAt },
        adjustmentId,
        adjustedAt,
      });
    });
    if (outcome !== undefined) return outcome;
    if (written === undefined) throw new ConnectError(`the stock of "${productId}" vanished`, Code.Internal);
    return { record: await alias(adjustmentId, written.value), fresh: true };
  };

  return {
    async level(productId) {
      return (await stock.get(productId))?.value.stock ?? zeroLevel(productId);
    },
    alias,
    apply,
    async find(productId, adjustmentId) {
      const outcome = await apply(productId, adjustmentId, () => "only looking");
      return isRefusal(outcome) ? undefined : outcome.record;
    },
  };
}

export function isRefusal(outcome: Applied | Refusal): outcome is Refusal {
  return "refused" in outcome;
}

export function zeroLevel(productId: string): StockLevel {
  return create(StockLevelSchema, { productId });
}
