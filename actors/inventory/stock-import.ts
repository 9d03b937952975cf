/**
 * InventoryService.ImportStock (client streaming): absolute stock levels from a warehouse count,
 * applied one message at a time as they arrive, as inventory.proto says:
 *
 * - each message sets one product's on_hand; the change is one ledger adjustment (reason
 *   IMPORT, delta = new - old) published as StockAdjusted, like any other;
 * - a message already matching the level writes nothing and counts as `unchanged`;
 * - a message that cannot be applied (no or bad product id, negative on_hand, on_hand below the
 *   units reserved for open orders) is listed in `failures` with its index from 0 and the
 *   reason; the messages before and after it are still applied (a count is a batch of
 *   independent facts, one bad line must not lose the rest);
 * - replaying the same stream gives the same levels (each level is absolute), and a stream cut
 *   off half-way keeps what it applied: the client sends the whole stream again.
 *
 * Every adjustment id is `inventory:import:<import id>:<index>`, unique per call, so the ledger
 * never mistakes one import's line for another's.
 */
import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  type ImportStockFailure,
  ImportStockFailureSchema,
  type ImportStockRequest,
  type ImportStockResponse,
  ImportStockResponseSchema,
  type StockAdjusted,
  StockAdjustmentReason,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import { INTERNAL_ADJUSTMENT_PREFIX } from "./reservations.ts";
import { isRefusal, type StockLedger } from "./stock-ledger.ts";
import { checkProductId } from "./stock-requests.ts";

/** What `importStock` needs: the ledger, and where each change goes once written. */
export interface StockImport {
  readonly ledger: StockLedger;
  readonly publish: (change: StockAdjusted) => Promise<void>;
  /** Unique per call; names its adjustments. */
  readonly importId: string;
}

const UNCHANGED = "unchanged";

export async function importStock(
  { ledger, publish, importId }: StockImport,
  requests: AsyncIterable<ImportStockRequest>,
): Promise<ImportStockResponse> {
  const summary = create(ImportStockResponseSchema);
  for await (const { productId, onHand } of requests) {
    const index = summary.received++;
    const failed = (reason: string): ImportStockFailure =>
      create(ImportStockFailureSchema, { index, productId, reason });
    try {
      checkProductId(productId);
    } catch (err) {
      summary.failures.push(failed(ConnectError.from(err).rawMessage));
      continue;
    }
    if (onHand < 0n) {
      summary.failures.push(failed(`on_hand is negative (${onHand})`));
      continue;
    }
    const adjustmentId = `${INTERNAL_ADJUSTMENT_PREFIX}import:${importId}:${index}`;
    const outcome = await ledger.apply(productId, adjustmentId, (level) => {
      if (level.onHand === onHand) return UNCHANGED;
      if (onHand < level.reserved) return `on_hand ${onHand} is below the ${level.reserved} units reserved`;
      return { delta: onHand - level.onHand, reservedDelta: 0n, reason: StockAdjustmentReason.IMPORT };
    });
    if (isRefusal(outcome)) {
      if (outcome.refused === UNCHANGED) summary.unchanged++;
      else summary.failures.push(failed(outcome.refused));
      continue;
    }
    await publish(outcome.record);
    summary.updated++;
  }
  return summary;
}
