/**
 * The inventory actor: stock levels and reservations (shop.v1.InventoryService), kept in
 * JetStream KV buckets that every instance shares (stock-ledger.ts, reservations.ts). The order
 * actor reserves an order's stock before it charges the order, sells the reservation once the
 * payment is captured, and releases it when the order is cancelled (docs/adr/0019-order-saga.md);
 * every one of these steps is idempotent per order, and a reservation ends once, sold or
 * released, whichever is decided first.
 *
 * A reservation holds its stock for `reservationTtlMs` unless sold: every instance sweeps the
 * open reservations every `expirySweepMs`, gives back the holds of expired ones and completes
 * sales decided in time (reservations.ts, "Expiry"). At its first start the inventory is stocked
 * from the shop's seed, the one the catalogue starts from (stock-seed.ts). ImportStock applies
 * warehouse counts (stock-import.ts). Every change of a product's stock is published as
 * StockAdjusted, which the product actor follows.
 *
 * `actors/inventory/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { defineActor, implement } from "troupe";
import {
  InventoryService,
  ReservationStatus,
  type StockAdjusted,
  type StockLevel,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import { type SeedStock, seedStock } from "../shared/seed-products.ts";
import { type EndOutcome, openReservations } from "./reservations.ts";
import { inventoryPublishes, publishReservation, publishStockChanges } from "./stock-events.ts";
import { importStock } from "./stock-import.ts";
import { isRefusal, openStockLedger } from "./stock-ledger.ts";
import { sortedItems } from "./stock-requests.ts";
import { seedInventory } from "./stock-seed.ts";

export interface InventoryActorOptions {
  /** How long a reservation holds its stock unless sold (see reservations.ts, "Expiry"). */
  readonly reservationTtlMs: number;
  /** How often each instance gives back the stock of expired reservations. */
  readonly expirySweepMs: number;
  /** What a product never stocked gets at the first start: the shop's seed by default. */
  readonly seed: readonly SeedStock[];
}

export const defaultInventoryActorOptions: InventoryActorOptions = {
  reservationTtlMs: 15 * 60_000,
  expirySweepMs: 10_000,
  seed: seedStock(),
};

/** The inventory actor with some options changed (tests, drills). */
export function createInventoryActor(partial: Partial<InventoryActorOptions> = {}) {
  const options: InventoryActorOptions = { ...defaultInventoryActorOptions, ...partial };
  return defineActor({
    name: "inventory",
    version: "1.0.0",
    description: "Stock levels and reservations: holds, sells and releases the stock of every order, once.",
    serves: [InventoryService],
    publishes: inventoryPublishes,
    state: [
      "inventory_stock",
      "inventory_adjustments",
      "inventory_reservations",
      "inventory_reservation_results",
      "inventory_reservation_ends",
      "inventory_open_reservations",
    ],

    async setup(ctx) {
      const ledger = await openStockLedger(ctx);
      // Before serving, so that nothing is sold from an inventory not stocked yet. Not published:
      // the streams may not exist yet, and the catalogue starts from the same seed.
      await seedInventory(ledger, options.seed);
      const reservations = await openReservations(ctx, ledger, options.reservationTtlMs);
      // Every instance sweeps; the releases are idempotent, so two sweeps of one reservation agree.
      ctx.every(
        options.expirySweepMs,
        async () => publishStockChanges(ctx, await reservations.expire(Date.now())),
        { name: "reservation expiry" },
      );
      return { ledger, reservations };
    },

    services(ctx, { ledger, reservations }) {
      /** Publishes what ending a reservation changed; one that did not end as asked is `failed_precondition`. */
      const ended = async (outcome: EndOutcome): Promise<EndOutcome> => {
        await publishStockChanges(ctx, outcome.changes);
        if (!outcome.ended) throw new ConnectError(outcome.refused ?? "refused", Code.FailedPrecondition);
        return outcome;
      };
      return [
        implement(InventoryService, {
          async getStock(request) {
            return { stock: await ledger.level(request.productId) };
          },

          async adjustStock(request) {
            const { adjustmentId, productId, delta, reason } = request;
            const same = (record: StockAdjusted): StockLevel | undefined => {
              if (record.productId !== productId || record.delta !== delta || record.reason !== reason) {
                throw new ConnectError(
                  `adjustment_id "${adjustmentId}" was already used for a different adjustment`,
                  Code.AlreadyExists,
                );
              }
              return record.stock;
            };
            const earlier = await ledger.find(productId, adjustmentId);
            if (earlier !== undefined) {
              await publishStockChanges(ctx, [earlier]);
              return { stock: same(earlier) };
            }
            if (request.reservationId !== "") {
              const found = await reservations.find(request.reservationId);
              if (found?.result?.status !== ReservationStatus.RESERVED) {
                throw new ConnectError(
                  `no reservation ${request.reservationId} holds stock`,
                  Code.FailedPrecondition,
                );
              }
              const outcome = await ended(await reservations.sellOne(found.reservation, productId, delta));
              const sale = outcome.changes.find((change) => change.productId === productId);
              if (sale === undefined)
                throw new ConnectError(`no sale of "${productId}" was made`, Code.Internal);
              const aliased = await ledger.alias(adjustmentId, sale);
              return { stock: same(aliased) };
            }
            const outcome = await ledger.apply(productId, adjustmentId, (level) => {
              if (level.onHand + delta < 0n) {
                return `on_hand of "${productId}" is ${level.onHand}: it cannot change by ${delta}`;
              }
              // Held units are sold by their reservation; taking them here would leave it short.
              if (delta < 0n && level.onHand + delta < level.reserved) {
                return `${level.reserved} of the ${level.onHand} units of "${productId}" are reserved: it cannot change by ${delta}`;
              }
              return { delta, reservedDelta: 0n, reason };
            });
            if (isRefusal(outcome)) throw new ConnectError(outcome.refused, Code.FailedPrecondition);
            await publishStockChanges(ctx, [outcome.record]);
            return { stock: same(outcome.record) };
          },

          async importStock(requests) {
            const publish = (change: StockAdjusted) => publishStockChanges(ctx, [change]);
            return importStock({ ledger, publish, importId: crypto.randomUUID() }, requests);
          },

          async reserveStock(request) {
            const outcome = await reservations.reserve(request.orderId, sortedItems(request.items));
            await publishReservation(ctx, outcome);
            return outcome.result;
          },

          async sellReservation(request) {
            const outcome = await ended(await reservations.sellAll(request.orderId));
            return { reservationId: outcome.reservationId, stock: levelsOf(outcome) };
          },

          async releaseReservation(request) {
            const outcome = await ended(await reservations.release(request.orderId));
            return { reservationId: outcome.reservationId, stock: levelsOf(outcome) };
          },
        }),
      ];
    },
  });
}

/** The levels after each product's change, in item order. */
function levelsOf(outcome: EndOutcome): StockLevel[] {
  return outcome.changes.flatMap((change) => (change.stock === undefined ? [] : [change.stock]));
}

/** The inventory actor as `actors/inventory/main.ts` runs it. */
export const inventoryActor = createInventoryActor();
