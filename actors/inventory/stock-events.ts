/**
 * The inventory's events: StockAdjusted for every change of a product's stock, StockReserved for
 * a reservation that holds its items, OutOfStock for each short product of one that does not.
 *
 * A change is published after it was written, by whichever attempt gets there (the first one
 * may have died in between), so the same change may be published more than once. Each event's
 * message id is derived from what it reports (the adjustment, the reservation), so JetStream's
 * duplicate window drops the repeats; later ones are redeliveries that consumers tolerate.
 */
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { ActorContext } from "troupe";
import {
  OutOfStockSchema,
  ReservationStatus,
  type StockAdjusted,
  StockAdjustedSchema,
  StockReservedSchema,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import type { ReserveOutcome } from "./reservations.ts";

/** What the inventory actor publishes, and its context, whose `publish` takes these types. */
export const inventoryPublishes = { events: [StockAdjustedSchema, StockReservedSchema, OutOfStockSchema] };
export type InventoryContext = ActorContext<typeof inventoryPublishes>;

/** Publishes a StockAdjusted per change; resolves once all are stored. */
export async function publishStockChanges(
  ctx: InventoryContext,
  changes: readonly StockAdjusted[],
): Promise<void> {
  await Promise.all(
    changes.map((change) =>
      ctx.publish(StockAdjustedSchema, change, { id: `StockAdjusted:${change.adjustmentId}` }),
    ),
  );
}

/** Publishes what a reservation did: its changes, then StockReserved or one OutOfStock per short product. */
export async function publishReservation(ctx: InventoryContext, outcome: ReserveOutcome): Promise<void> {
  const { reservation, result } = outcome;
  await publishStockChanges(ctx, outcome.changes);
  if (result.status === ReservationStatus.RESERVED) {
    await ctx.publish(StockReservedSchema, reservation, { id: `StockReserved:${reservation.reservationId}` });
    return;
  }
  const occurredAt = timestampNow();
  await Promise.all(
    result.shortages.map(({ productId, requested, available }) =>
      ctx.publish(
        OutOfStockSchema,
        { productId, orderId: reservation.orderId, requested, available, occurredAt },
        { id: `OutOfStock:${reservation.reservationId}:${productId}` },
      ),
    ),
  );
}
