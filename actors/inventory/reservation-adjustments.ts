/**
 * The ledger adjustments a reservation makes on each of its products, with ids derived from the
 * reservation and the product (`inventory:<kind>:<reservation id>:<product id>`), so each is made
 * at most once whoever attempts it and however often (stock-ledger.ts):
 *
 *   hold     reserved goes up by the item's quantity (reservations.ts decides when)
 *   release  gives back the hold if there is one, and bars a later hold and sale
 *   sale     on_hand and reserved go down together; refused once released
 *
 * A release and a sale of one product watch each other in the product's record: the first one
 * written wins, and the other is refused.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { stateKeyOf } from "troupe/jetstream";
import {
  type StockAdjusted,
  StockAdjustmentReason,
  type StockItem,
  type StockReserved,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import { isRefusal, type StockLedger } from "./stock-ledger.ts";

/** Adjustment ids starting with this are the inventory's own; callers may not use them. */
export const INTERNAL_ADJUSTMENT_PREFIX = "inventory:";

export const RESERVATION_PREFIX = "rsv-";

/** The reservation id of an order's reservation (one per order). */
export function reservationIdOf(orderId: string): string {
  return `${RESERVATION_PREFIX}${stateKeyOf(orderId)}`;
}

/** The id of the adjustment that sells the reserved units of one product of an order. */
export function saleAdjustmentId(orderId: string, productId: string): string {
  return adjustmentIdOf("sale", reservationIdOf(orderId), productId);
}

export function adjustmentIdOf(
  kind: "hold" | "release" | "sale",
  reservationId: string,
  productId: string,
): string {
  return `${INTERNAL_ADJUSTMENT_PREFIX}${kind}:${reservationId}:${productId}`;
}

/** Gives back the reservation's hold of every item not sold (if any), and bars later holds and sales; collects the changes. */
export async function giveBackHolds(
  ledger: StockLedger,
  reservation: StockReserved,
  changes: StockAdjusted[],
): Promise<void> {
  for (const { productId, quantity } of reservation.items) {
    const id = adjustmentIdOf("release", reservation.reservationId, productId);
    const hold = adjustmentIdOf("hold", reservation.reservationId, productId);
    const sale = adjustmentIdOf("sale", reservation.reservationId, productId);
    const outcome = await ledger.apply(
      productId,
      id,
      (_, seen) =>
        seen.has(sale)
          ? "sold"
          : {
              delta: 0n,
              reservedDelta: seen.has(hold) ? -quantity : 0n,
              reason: StockAdjustmentReason.UNSPECIFIED,
            },
      [hold, sale],
    );
    // Published even when there was no hold to give back: the event then repeats the level.
    if (!isRefusal(outcome)) changes.push(outcome.record);
  }
}

/**
 * Sells the reservation's hold of one item: on_hand changes by `delta`, reserved goes down by the
 * held units. Only for a reservation that ended SOLD, which holds every item and can no longer be
 * released: a refusal then means the ledger was changed behind the inventory's back, which is an
 * error, never an answer a caller should act on (the order would refund a sale half made).
 */
export async function sellHold(
  ledger: StockLedger,
  reservation: StockReserved,
  item: StockItem,
  delta: bigint,
): Promise<StockAdjusted> {
  const { reservationId } = reservation;
  const { productId } = item;
  const hold = adjustmentIdOf("hold", reservationId, productId);
  const released = adjustmentIdOf("release", reservationId, productId);
  const outcome = await ledger.apply(
    productId,
    adjustmentIdOf("sale", reservationId, productId),
    (level, seen) => {
      if (!seen.has(hold) || seen.has(released)) {
        return `reservation ${reservationId} does not hold "${productId}"`;
      }
      // Cannot happen while removals leave reserved units alone (on_hand >= reserved).
      if (level.onHand + delta < 0n) return `on_hand of "${productId}" would become negative`;
      return { delta, reservedDelta: -item.quantity, reason: StockAdjustmentReason.SALE };
    },
    [hold, released],
  );
  if (isRefusal(outcome)) throw new ConnectError(outcome.refused, Code.Internal);
  return outcome.record;
}

/** The reservation's holds that were made (perhaps by an earlier attempt, whose events may be lost). */
export async function holdsOf(ledger: StockLedger, reservation: StockReserved): Promise<StockAdjusted[]> {
  const holds = await Promise.all(
    reservation.items.map((i) =>
      ledger.find(i.productId, adjustmentIdOf("hold", reservation.reservationId, i.productId)),
    ),
  );
  return holds.filter((h) => h !== undefined);
}
