/**
 * Reservations (InventoryService.ReserveStock) on top of the stock ledger, all items or none, in
 * two JetStream KV buckets keyed by order (stateKeyOf(order id)):
 *
 *   inventory_reservations         the items asked for, the reservation id and expiry (StockReserved),
 *                                  written create-only before anything is held
 *   inventory_reservation_results  the outcome (ReserveStockResponse), written create-only: the
 *                                  one decision every attempt for the order follows
 *   inventory_open_reservations    the reservations that may still hold stock (StockReserved),
 *                                  written before the first hold, deleted once expired
 *
 * Every change of a product made for a reservation is a ledger adjustment with an id derived
 * from the reservation and the product (`hold`, `release`, `sale`), so each happens at most once
 * whoever attempts it and however often. A reservation holds each item, then records its
 * outcome; when the outcome is OUT_OF_STOCK (decided by this attempt or a concurrent one) every
 * item gets a `release`, which gives back a hold if there is one and bars any later hold. A
 * `sale` consumes the hold of one product: on_hand and reserved go down together.
 *
 * Expiry: once `expires_at` has passed, a reservation holds nothing. `expire` (run by a timer of
 * every inventory instance) gives back the hold of each item not sold yet with the same
 * `release` adjustment as an OUT_OF_STOCK outcome, and a `sale` of an expired reservation is
 * refused after doing the same, so nothing can sell a hold that is due to be given back. A
 * `release` is refused for an item already sold, and a `sale` for one released: the ledger's
 * conditional write of the product decides which came first. The reservation's outcome stays
 * RESERVED (ReserveStock stays idempotent per order); its stock is simply no longer held.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
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
import { openStateStore, stateKeyOf } from "../../runtime/mod.ts";
import { isConflict } from "./state-conflict.ts";
import { isRefusal, type StockLedger } from "./stock-ledger.ts";

/** Adjustment ids starting with this are the inventory's own; callers may not use them. */
export const INTERNAL_ADJUSTMENT_PREFIX = "inventory:";

const RESERVATION_PREFIX = "rsv-";

/** The reservation id of an order's reservation (one per order). */
export function reservationIdOf(orderId: string): string {
  return `${RESERVATION_PREFIX}${stateKeyOf(orderId)}`;
}

/** The id of the adjustment that sells the reserved units of one product of an order. */
export function saleAdjustmentId(orderId: string, productId: string): string {
  return adjustmentIdOf("sale", reservationIdOf(orderId), productId);
}

function adjustmentIdOf(kind: "hold" | "release" | "sale", reservationId: string, productId: string): string {
  return `${INTERNAL_ADJUSTMENT_PREFIX}${kind}:${reservationId}:${productId}`;
}

/** What a reservation attempt did, with every ledger record it made or found. */
export interface ReserveOutcome {
  readonly reservation: StockReserved;
  readonly result: ReserveStockResponse;
  /** The changes of stock the reservation made (now or in an earlier attempt), to be published. */
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
  /**
   * Consumes the reservation's hold of one product: on_hand changes by `delta` and reserved goes
   * down by the held units. Once per reservation and product; `failed_precondition` when the
   * product is not held by it or on_hand would become negative.
   */
  sell(reservation: StockReserved, productId: string, delta: bigint): Promise<StockAdjusted>;
  /**
   * Gives back the holds of every reservation whose `expires_at` is before `nowMs` (except the
   * items already sold), and forgets it; returns the changes, to be published.
   */
  expire(nowMs: number): Promise<StockAdjusted[]>;
}

export interface ReservationsOptions {
  readonly namespace: string;
  /** How long a reservation is meant to hold its stock (see the module comment). */
  readonly ttlMs: number;
  /** Called after the hold of each product and after the outcome is recorded; tests stop a process here. */
  readonly checkpoint: (
    point: "held" | "decided",
    orderId: string,
    productId?: string,
  ) => void | Promise<void>;
}

export const defaultReservationsOptions: ReservationsOptions = {
  namespace: "",
  ttlMs: 15 * 60_000,
  checkpoint: () => undefined,
};

export async function openReservations(
  nc: NatsConnection,
  ledger: StockLedger,
  partial: Partial<ReservationsOptions> = {},
): Promise<Reservations> {
  const { namespace, ttlMs, checkpoint } = { ...defaultReservationsOptions, ...partial };
  const [requests, results, open] = await Promise.all([
    openStateStore(nc, { bucket: "inventory_reservations", namespace, schema: StockReservedSchema }),
    openStateStore(nc, {
      bucket: "inventory_reservation_results",
      namespace,
      schema: ReserveStockResponseSchema,
    }),
    openStateStore(nc, { bucket: "inventory_open_reservations", namespace, schema: StockReservedSchema }),
  ]);

  /** Gives back the reservation's hold of every item not sold (if any), and bars later holds and sales. */
  const release = async (reservation: StockReserved, changes: StockAdjusted[]) => {
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
  };

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
        if (decided.value.status === ReservationStatus.OUT_OF_STOCK) await release(reservation, changes);
        return { reservation, result: decided.value, changes: [...(await holdsOf(reservation)), ...changes] };
      }

      // Before the first hold, so that every reservation that may hold stock can expire.
      await open.put(key, reservation);
      const shortages: StockShortage[] = [];
      for (const { productId, quantity } of reservation.items) {
        const released = adjustmentIdOf("release", reservationId, productId);
        const outcome = await ledger.apply(
          productId,
          adjustmentIdOf("hold", reservationId, productId),
          (level, seen) => {
            if (seen.has(released)) return "released"; // a concurrent attempt decided OUT_OF_STOCK
            if (level.available < quantity) return "short";
            return { delta: 0n, reservedDelta: quantity, reason: StockAdjustmentReason.UNSPECIFIED };
          },
          [released],
        );
        if (isRefusal(outcome)) {
          const available = outcome.level.available > 0n ? outcome.level.available : 0n;
          shortages.push(create(StockShortageSchema, { productId, requested: quantity, available }));
        } else {
          changes.push(outcome.record);
          await checkpoint("held", orderId, productId);
        }
      }

      const result = await results.claim(
        key,
        create(
          ReserveStockResponseSchema,
          shortages.length === 0
            ? { status: ReservationStatus.RESERVED, reservationId, expiresAt: reservation.expiresAt }
            : { status: ReservationStatus.OUT_OF_STOCK, shortages },
        ),
      );
      await checkpoint("decided", orderId);
      if (result.status === ReservationStatus.OUT_OF_STOCK) await release(reservation, changes);
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

    async sell(reservation, productId, delta) {
      const item = reservation.items.find((i) => i.productId === productId);
      const { reservationId } = reservation;
      if (item === undefined) {
        throw new ConnectError(
          `reservation ${reservationId} holds no "${productId}"`,
          Code.FailedPrecondition,
        );
      }
      const hold = adjustmentIdOf("hold", reservationId, productId);
      const released = adjustmentIdOf("release", reservationId, productId);
      const expired = `reservation ${reservationId} expired at ${expiryOf(reservation).toISOString()}`;
      const outcome = await ledger.apply(
        productId,
        adjustmentIdOf("sale", reservationId, productId),
        (level, seen) => {
          // Checked only when the sale is not made yet: a retry of a sale made in time still answers it.
          if (isExpired(reservation, Date.now())) return expired;
          if (!seen.has(hold) || seen.has(released)) {
            return `reservation ${reservationId} does not hold "${productId}"`;
          }
          if (level.onHand + delta < 0n) return `on_hand of "${productId}" would become negative`;
          return { delta, reservedDelta: -item.quantity, reason: StockAdjustmentReason.SALE };
        },
        [hold, released],
      );
      if (isRefusal(outcome)) {
        // The expiry sweep would give the holds back soon; no sale may wait for it.
        if (outcome.refused === expired) await release(reservation, []);
        throw new ConnectError(outcome.refused, Code.FailedPrecondition);
      }
      return outcome.record;
    },

    async expire(nowMs) {
      const changes: StockAdjusted[] = [];
      for (const key of await open.keys()) {
        const entry = await open.get(key);
        if (entry === undefined || !isExpired(entry.value, nowMs)) continue;
        await release(entry.value, changes);
        // Only the revision read: a reservation written again since then is left for the next sweep.
        await open.delete(key, { expectedRevision: entry.revision }).catch((err: unknown) => {
          if (!isConflict(err)) throw err;
        });
      }
      return changes;
    },
  };

  /** The reservation's holds that were made (perhaps by an earlier attempt, whose events may be lost). */
  async function holdsOf(reservation: StockReserved): Promise<StockAdjusted[]> {
    const holds = await Promise.all(
      reservation.items.map((i) =>
        ledger.find(i.productId, adjustmentIdOf("hold", reservation.reservationId, i.productId)),
      ),
    );
    return holds.filter((h) => h !== undefined);
  }
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
