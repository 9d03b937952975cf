/**
 * The inventory actor: stock levels and reservations (shop.v1.InventoryService), kept in
 * JetStream KV buckets that every instance shares (stock-ledger.ts, reservations.ts), and the
 * consumer of OrderPlaced, which takes each order's stock exactly once: it reserves the order's
 * items (all or none) and sells the reservation, every step an adjustment whose id is derived
 * from the order, so a redelivery, a redrive or a second instance finds the steps done and does
 * only what is missing. An order the stock cannot cover takes nothing and publishes OutOfStock
 * for each short product (a product never stocked has no stock); it is acknowledged, not retried.
 *
 * A reservation made with ReserveStock holds its stock for `reservationTtlMs` unless sold: every
 * instance sweeps expired reservations every `expirySweepMs` and gives their holds back, and a
 * sale of an expired reservation is refused (reservations.ts, "Expiry"). The OrderPlaced handler
 * sells right after it reserves, so its reservations never get near expiry, unless a redelivery
 * comes after the TTL to an order whose sale was not made: that sale is refused, and the message
 * goes to the dead letters after its attempts, where an operator sees it.
 * ImportStock applies warehouse counts (stock-import.ts).
 *
 * `actors/inventory/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  InventoryService,
  ReservationStatus,
  type StockAdjusted,
  type StockLevel,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import { OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import {
  type ActorDefinition,
  defineActor,
  errorFields,
  implement,
  onEvent,
  type SubscriptionOptions,
} from "../../runtime/mod.ts";
import { openReservations, type Reservations } from "./reservations.ts";
import { INVENTORY_EVENTS, publishReservation, publishStockChanges } from "./stock-events.ts";
import { importStock } from "./stock-import.ts";
import { isRefusal, openStockLedger, type StockLedger } from "./stock-ledger.ts";
import {
  checkAdjustment,
  checkId,
  checkProductId,
  checkReserveItems,
  itemsOfOrder,
} from "./stock-requests.ts";

/**
 * Where the OrderPlaced handler is: `received` (nothing done), `held` (one product's hold
 * made), `decided` (the reservation's outcome recorded), `written` (a product's record written,
 * its adjustment not yet indexed), `sold` (one product sold), `done` (events published, not yet
 * acknowledged).
 */
export type InventoryCheckpoint = "received" | "held" | "decided" | "written" | "sold" | "done";

export interface CheckpointAt {
  /** Unset at `written`, which names the adjustment instead. */
  readonly orderId?: string;
  readonly productId?: string;
  readonly adjustmentId?: string;
  /** At `received`: 1 on the message's first delivery. */
  readonly deliveryCount?: number;
}

export interface InventoryActorOptions {
  /** How long a reservation holds its stock unless sold (see reservations.ts, "Expiry"). */
  readonly reservationTtlMs: number;
  /** How often each instance gives back the stock of expired reservations. */
  readonly expirySweepMs: number;
  /** The OrderPlaced consumer's options (ack wait, attempts, concurrency). */
  readonly orderPlaced: Partial<SubscriptionOptions>;
  /**
   * Called as the OrderPlaced handler passes each checkpoint (and after each ledger write);
   * a test worker pauses there to be killed. A no-op in production.
   */
  readonly checkpoint: (point: InventoryCheckpoint, at: CheckpointAt) => void | Promise<void>;
}

export const defaultInventoryActorOptions: InventoryActorOptions = {
  reservationTtlMs: 15 * 60_000,
  expirySweepMs: 10_000,
  orderPlaced: {},
  checkpoint: () => undefined,
};

/** What one instance keeps. */
export interface InventoryState {
  readonly ledger: StockLedger;
  readonly reservations: Reservations;
  /** Stops the expiry sweep (at drain). */
  readonly stopSweep: () => void;
}

/** The inventory actor with some options changed (tests, drills). */
export function createInventoryActor(
  partial: Partial<InventoryActorOptions> = {},
): ActorDefinition<InventoryState> {
  const options: InventoryActorOptions = { ...defaultInventoryActorOptions, ...partial };
  const { checkpoint } = options;
  return defineActor<InventoryState>({
    name: "inventory",
    version: "1.0.0",
    description: "Stock levels and reservations; takes the stock of every order placed, once.",
    publishes: { events: INVENTORY_EVENTS },

    async setup(ctx) {
      const { namespace } = ctx;
      const ledger = await openStockLedger(ctx.nc, {
        namespace,
        afterWrite: (productId, adjustmentId) => checkpoint("written", { productId, adjustmentId }),
      });
      const reservations = await openReservations(ctx.nc, ledger, {
        namespace,
        ttlMs: options.reservationTtlMs,
        checkpoint: (point, orderId, productId) =>
          checkpoint(point, productId === undefined ? { orderId } : { orderId, productId }),
      });
      // Every instance sweeps; the releases are idempotent, so two sweeps of one reservation agree.
      let sweeping = false;
      const timer = setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        reservations
          .expire(Date.now())
          .then((changes) => publishStockChanges(ctx, changes))
          .catch((err: unknown) =>
            ctx.logger.log(
              "warn",
              "expiring reservations failed; the next sweep tries again",
              errorFields(err),
            ),
          )
          .finally(() => {
            sweeping = false;
          });
      }, options.expirySweepMs);
      return { ledger, reservations, stopSweep: () => clearInterval(timer) };
    },

    stop: (_ctx, { stopSweep }) => stopSweep(),

    services: (ctx, { ledger, reservations }) => [
      implement(InventoryService, {
        async getStock(request) {
          return { stock: await ledger.level(checkProductId(request.productId)) };
        },

        async adjustStock(request) {
          checkAdjustment(request);
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
            const sale = await ledger.alias(
              adjustmentId,
              await reservations.sell(found.reservation, productId, delta),
            );
            await publishStockChanges(ctx, [sale]);
            return { stock: same(sale) };
          }
          const outcome = await ledger.apply(productId, adjustmentId, (level) =>
            level.onHand + delta < 0n
              ? `on_hand of "${productId}" is ${level.onHand}: it cannot change by ${delta}`
              : { delta, reservedDelta: 0n, reason },
          );
          if (isRefusal(outcome)) throw new ConnectError(outcome.refused, Code.FailedPrecondition);
          await publishStockChanges(ctx, [outcome.record]);
          return { stock: same(outcome.record) };
        },

        async importStock(requests) {
          const publish = (change: StockAdjusted) => publishStockChanges(ctx, [change]);
          return importStock({ ledger, publish, importId: crypto.randomUUID() }, requests);
        },

        async reserveStock(request) {
          const orderId = checkId(request.orderId, "order_id");
          const outcome = await reservations.reserve(orderId, checkReserveItems(request.items));
          await publishReservation(ctx, outcome);
          return outcome.result;
        },
      }),
    ],

    subscriptions: (ctx, { reservations }) => [
      onEvent(
        OrderPlacedSchema,
        async (order, meta) => {
          const { orderId } = order;
          await checkpoint("received", { orderId, deliveryCount: meta.deliveryCount });
          const outcome = await reservations.reserve(orderId, itemsOfOrder(order));
          const sales: StockAdjusted[] = [];
          if (outcome.result.status === ReservationStatus.RESERVED) {
            for (const { productId, quantity } of outcome.reservation.items) {
              sales.push(await reservations.sell(outcome.reservation, productId, -quantity));
              await checkpoint("sold", { orderId, productId });
            }
          }
          await publishReservation(ctx, outcome);
          await publishStockChanges(ctx, sales);
          await checkpoint("done", { orderId });
        },
        options.orderPlaced,
      ),
    ],
  });
}

/** The inventory actor as `actors/inventory/main.ts` runs it. */
export const inventoryActor: ActorDefinition<InventoryState> = createInventoryActor();
