/**
 * Reservations (InventoryService.ReserveStock, SellReservation, ReleaseReservation) on top of the
 * stock ledger, all items or none, in JetStream KV buckets keyed by order (stateKeyOf(order id)):
 *
 *   inventory_reservations         the items asked for, the reservation id and expiry (StockReserved),
 *                                  written create-only before anything is held
 *   inventory_reservation_results  the outcome (ReserveStockResponse), written create-only: the
 *                                  one decision every attempt for the order follows
 *   inventory_reservation_ends     how the reservation ended, SOLD or RELEASED (ReservationEnd),
 *                                  written create-only: the first of a sale and a release decides
 *   inventory_open_reservations    the reservations that may still hold stock (StockReserved),
 *                                  written before the first hold, deleted once ended
 *
 * Every change of a product made for a reservation is a ledger adjustment with an id derived
 * from the reservation and the product (`hold`, `release`, `sale`), so each happens at most once
 * whoever attempts it and however often. A reservation holds each item, then records its
 * outcome; when the outcome is not RESERVED (decided by this attempt or a concurrent one) every
 * item gets a `release`, which gives back a hold if there is one and bars any later hold.
 *
 * Ending: a reservation is sold or released as a whole. Its end is decided once, by a create-only
 * write, before any product is touched; whoever comes later follows that decision and completes
 * it (each product's `sale` or `release` is idempotent), so a process that dies half-way through
 * a sale of three products leaves a sale that the next attempt, or the expiry sweep, finishes,
 * never a sale of one product and a release of the others. A release of an order that has not
 * reserved yet ends it too: its ReserveStock then answers RELEASED and holds nothing.
 *
 * Expiry: once `expires_at` has passed, a reservation that has not ended ends RELEASED. `expire`
 * (run by a timer of every inventory instance) decides that for each open reservation past its
 * expiry and gives its holds back, or, for one whose sale was decided in time, completes the
 * sale. A sale asked for after the expiry is refused after deciding the same release. The
 * reservation's outcome stays RESERVED (ReserveStock stays idempotent per order); its stock is
 * simply no longer held.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs, timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ActorContext } from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import {
  ReservationEndKind,
  ReservationEndSchema,
} from "../../proto/gen/shop/inventory/state/v1/inventory_state_pb.ts";
import {
  ReservationStatus,
  type ReserveStockResponse,
  ReserveStockResponseSchema,
  type StockAdjusted,
  StockAdjustmentReason,
  type StockItem,
  type StockReserved,
  StockReservedSchema,
  type StockShortage,
  StockShortageSchema,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import {
  adjustmentIdOf,
  giveBackHolds,
  holdsOf,
  RESERVATION_PREFIX,
  reservationIdOf,
  sellHold,
} from "./reservation-adjustments.ts";
import { isRefusal, type StockLedger } from "./stock-ledger.ts";

export {
  adjustmentIdOf,
  INTERNAL_ADJUSTMENT_PREFIX,
  reservationIdOf,
  saleAdjustmentId,
} from "./reservation-adjustments.ts";

/** SellReservation: the pauses before reading a reservation not found again. */
const MISSING_REREADS_MS = [50, 200, 750];

/** What a reservation attempt did, with every ledger record it made or found. */
export interface ReserveOutcome {
  readonly reservation: StockReserved;
  readonly result: ReserveStockResponse;
  /** The changes of stock the reservation made (now or in an earlier attempt), to be published. */
  readonly changes: readonly StockAdjusted[];
}

/**
 * What ending a reservation did: `ended` says whether it ended as asked (sold for a sale,
 * released for a release); `changes` are the stock changes made or found, to be published
 * either way (a sale refused for an expired reservation gives its holds back).
 */
export interface EndOutcome {
  readonly ended: boolean;
  /** Why it did not end as asked. */
  readonly refused?: string;
  readonly reservationId: string;
  readonly changes: readonly StockAdjusted[];
}

export interface Reservations {
  /**
   * Holds `items` (one per product, sorted by product id) for the order, all or none, or
   * returns what the first attempt for the order decided. `already_exists` when the order has a
   * reservation of other items.
   */
  reserve(orderId: string, items: readonly StockItem[]): Promise<ReserveOutcome>;
  /** The reservation with this id, if any, and its outcome once decided. */
  find(
    reservationId: string,
  ): Promise<{ reservation: StockReserved; result?: ReserveStockResponse } | undefined>;
  /** Sells every item of the order's reservation (SellReservation); refused unless it holds stock. */
  sellAll(orderId: string): Promise<EndOutcome>;
  /**
   * Sells the reservation's hold of one product (AdjustStock with reason SALE): on_hand changes
   * by `delta` and reserved goes down by the held units. The reservation ends SOLD; refused when
   * it ended RELEASED (or expired) or does not hold the product.
   */
  sellOne(reservation: StockReserved, productId: string, delta: bigint): Promise<EndOutcome>;
  /** Gives back what the order's reservation holds and ends it (ReleaseReservation); refused once sold. */
  release(orderId: string): Promise<EndOutcome>;
  /**
   * Ends every open reservation whose `expires_at` is before `nowMs`: gives its holds back, or
   * completes its sale if that was decided in time, and forgets it; returns the changes.
   */
  expire(nowMs: number): Promise<StockAdjusted[]>;
}

/** `ttlMs`: how long a reservation is meant to hold its stock (see the module comment). */
export async function openReservations(
  ctx: Pick<ActorContext, "state">,
  ledger: StockLedger,
  ttlMs: number,
): Promise<Reservations> {
  const [requests, results, ends, open] = await Promise.all([
    ctx.state("inventory_reservations", StockReservedSchema),
    ctx.state("inventory_reservation_results", ReserveStockResponseSchema),
    ctx.state("inventory_reservation_ends", ReservationEndSchema),
    ctx.state("inventory_open_reservations", StockReservedSchema),
  ]);

  /** Decides how the order's reservation ends, unless decided already; answers the decision. */
  const end = async (orderId: string, kind: ReservationEndKind) =>
    (await ends.claim(stateKeyOf(orderId), create(ReservationEndSchema, { kind, endedAt: timestampNow() })))
      .kind;
  const endOf = async (orderId: string) => (await ends.get(stateKeyOf(orderId)))?.value.kind;

  const giveBack = (reservation: StockReserved, changes: StockAdjusted[]) =>
    giveBackHolds(ledger, reservation, changes);
  const sale = (reservation: StockReserved, item: StockItem, delta: bigint) =>
    sellHold(ledger, reservation, item, delta);

  /** Ends the reservation SOLD (RELEASED if it expired first), then sells `items`, or gives back. */
  const sell = async (
    reservation: StockReserved,
    items: readonly { item: StockItem; delta: bigint }[],
  ): Promise<EndOutcome> => {
    const { orderId, reservationId } = reservation;
    const expired = isExpired(reservation, Date.now());
    const kind = await end(orderId, expired ? ReservationEndKind.RELEASED : ReservationEndKind.SOLD);
    const changes: StockAdjusted[] = [];
    if (kind !== ReservationEndKind.SOLD) {
      await giveBack(reservation, changes);
      await open.forget(stateKeyOf(orderId));
      const refused = expired
        ? `reservation ${reservationId} expired at ${expiryOf(reservation).toISOString()}`
        : `reservation ${reservationId} was released`;
      return { ended: false, refused, reservationId, changes };
    }
    for (const { item, delta } of items) changes.push(await sale(reservation, item, delta));
    return { ended: true, reservationId, changes };
  };

  const wholeSale = (reservation: StockReserved) =>
    reservation.items.map((item) => ({ item, delta: -item.quantity }));

  return {
    async reserve(orderId, items) {
      const key = stateKeyOf(orderId);
      const reservationId = reservationIdOf(orderId);
      const reservation = await requests.claim(
        key,
        create(StockReservedSchema, {
          orderId,
          reservationId,
          items: [...items],
          expiresAt: timestampFromMs(Date.now() + ttlMs),
        }),
      );
      if (!sameItems(reservation.items, items)) {
        throw new ConnectError(
          `order "${orderId}" already has a reservation of other items`,
          Code.AlreadyExists,
        );
      }
      const changes: StockAdjusted[] = [];
      const decided = await results.get(key);
      if (decided !== undefined) {
        // Holds are made before the decision; releases follow it, perhaps not yet all of them.
        const status = decided.value.status;
        if (status !== ReservationStatus.RESERVED) await giveBack(reservation, changes);
        const holds = await holdsOf(ledger, reservation);
        return { reservation, result: decided.value, changes: [...holds, ...changes] };
      }

      // Released before it was made (the order was cancelled): nothing may be held for it.
      let released = (await endOf(orderId)) === ReservationEndKind.RELEASED;
      const shortages: StockShortage[] = [];
      if (!released) {
        // Before the first hold, so that every reservation that may hold stock can expire.
        await open.put(key, reservation);
        for (const { productId, quantity } of reservation.items) {
          const barred = adjustmentIdOf("release", reservationId, productId);
          const outcome = await ledger.apply(
            productId,
            adjustmentIdOf("hold", reservationId, productId),
            (level, seen) => {
              if (seen.has(barred)) return "released"; // a release or a concurrent OUT_OF_STOCK came first
              if (level.available < quantity) return "short";
              return { delta: 0n, reservedDelta: quantity, reason: StockAdjustmentReason.UNSPECIFIED };
            },
            [barred],
          );
          if (!isRefusal(outcome)) {
            changes.push(outcome.record);
          } else if (outcome.refused === "released") {
            released = true;
          } else {
            const available = outcome.level.available > 0n ? outcome.level.available : 0n;
            shortages.push(create(StockShortageSchema, { productId, requested: quantity, available }));
          }
        }
      }

      const result = await results.claim(
        key,
        create(
          ReserveStockResponseSchema,
          released
            ? { status: ReservationStatus.RELEASED }
            : shortages.length === 0
              ? { status: ReservationStatus.RESERVED, reservationId, expiresAt: reservation.expiresAt }
              : { status: ReservationStatus.OUT_OF_STOCK, shortages },
        ),
      );
      // A release that came while the holds were made has ended the reservation: give them back.
      if (
        result.status !== ReservationStatus.RESERVED ||
        (await endOf(orderId)) === ReservationEndKind.RELEASED
      ) {
        await giveBack(reservation, changes);
      }
      return { reservation, result, changes };
    },

    async find(reservationId) {
      if (!reservationId.startsWith(RESERVATION_PREFIX)) return undefined;
      const key = reservationId.slice(RESERVATION_PREFIX.length);
      let reservation: StockReserved | undefined;
      try {
        reservation = (await requests.get(key))?.value;
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.InvalidArgument) return undefined; // not a key
        throw err;
      }
      if (reservation === undefined) return undefined;
      const result = (await results.get(key))?.value;
      return result === undefined ? { reservation } : { reservation, result };
    },

    async sellAll(orderId) {
      const key = stateKeyOf(orderId);
      let [reservation, result] = await Promise.all([requests.get(key), results.get(key)]);
      // A read may be answered by a replica that has not got the reservation yet (a cluster):
      // only a reservation still missing after a few reads is refused.
      for (const delayMs of MISSING_REREADS_MS) {
        if (reservation !== undefined && result !== undefined) break;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        [reservation, result] = await Promise.all([requests.get(key), results.get(key)]);
      }
      if (reservation === undefined || result?.value.status !== ReservationStatus.RESERVED) {
        const refused = `order "${orderId}" has no reservation that holds stock`;
        return { ended: false, refused, reservationId: reservationIdOf(orderId), changes: [] };
      }
      const outcome = await sell(reservation.value, wholeSale(reservation.value));
      if (outcome.ended) await open.forget(key);
      return outcome;
    },

    async sellOne(reservation, productId, delta) {
      const item = reservation.items.find((i) => i.productId === productId);
      if (item === undefined) {
        const { reservationId } = reservation;
        return {
          ended: false,
          refused: `reservation ${reservationId} holds no "${productId}"`,
          reservationId,
          changes: [],
        };
      }
      return sell(reservation, [{ item, delta }]);
    },

    async release(orderId) {
      const key = stateKeyOf(orderId);
      const reservationId = reservationIdOf(orderId);
      if ((await end(orderId, ReservationEndKind.RELEASED)) !== ReservationEndKind.RELEASED) {
        return { ended: false, refused: `reservation ${reservationId} was sold`, reservationId, changes: [] };
      }
      const changes: StockAdjusted[] = [];
      const reservation = (await requests.get(key))?.value;
      if (reservation !== undefined) await giveBack(reservation, changes);
      await open.forget(key);
      return { ended: true, reservationId, changes };
    },

    async expire(nowMs) {
      const changes: StockAdjusted[] = [];
      for (const key of await open.keys()) {
        const entry = await open.get(key);
        if (entry === undefined || !isExpired(entry.value, nowMs)) continue;
        const reservation = entry.value;
        if ((await end(reservation.orderId, ReservationEndKind.RELEASED)) === ReservationEndKind.SOLD) {
          // Sold in time, by a seller that did not finish: the sale is completed, never undone.
          const outcome = await sell(reservation, wholeSale(reservation));
          changes.push(...outcome.changes);
        } else {
          await giveBack(reservation, changes);
        }
        // Only the revision read: a reservation written again since then is left for the next sweep.
        await open.delete(key, { expectedRevision: entry.revision }).catch((err: unknown) => {
          if (!(err instanceof ConnectError && err.code === Code.Aborted)) throw err;
        });
      }
      return changes;
    },
  };
}

function expiryOf(reservation: StockReserved): Date {
  return reservation.expiresAt === undefined ? new Date(0) : timestampDate(reservation.expiresAt);
}

function isExpired(reservation: StockReserved, nowMs: number): boolean {
  return reservation.expiresAt !== undefined && timestampMs(reservation.expiresAt) <= nowMs;
}

function sameItems(a: readonly StockItem[], b: readonly StockItem[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => x.productId === b[i]?.productId && x.quantity === b[i]?.quantity)
  );
}
