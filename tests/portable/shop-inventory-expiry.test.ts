/**
 * Reservation expiry (actors/inventory/reservations.ts, "Expiry"): a reservation not sold before
 * its `expires_at` holds nothing any more. Two inventory instances with a short TTL and a fast
 * sweep are served in-process against a real nats-server; the test awaits the StockAdjusted that
 * gives a hold back, then checks the levels and that a late sale is refused while a sale made in
 * time stands, and that a sale decided in time whose seller failed half-way is completed by the
 * sweep, never undone.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  defineActor,
  onEvent,
  openStateStore,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createInventoryActor } from "../../actors/inventory/actor.ts";
import {
  InventoryService,
  ReservationStatus,
  type StockAdjusted,
  StockAdjustedSchema,
  StockAdjustmentReason,
  StockReservedSchema,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import { withHooks } from "../support/actor-hooks.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { deferred, eventually, withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "shop";
const TTL_MS = 1_500;

describe("inventory reservations expire", () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  let inventory: Client<typeof InventoryService>;
  const changes: StockAdjusted[] = [];
  let failWriteOf: string | undefined;
  const waiters = new Set<{ match: (e: StockAdjusted) => boolean; resolve: () => void }>();

  /** Resolves once a StockAdjusted matching `match` was seen (before or after the call). */
  const seen = (match: (e: StockAdjusted) => boolean, what: string) => {
    if (changes.some(match)) return Promise.resolve();
    const found = deferred();
    const waiter = { match, resolve: found.resolve };
    waiters.add(waiter);
    return withTimeout(found.promise, 20_000, () => `no ${what}`).finally(() => waiters.delete(waiter));
  };

  before(async () => {
    server = await startNatsServer();
    const options = { logger: silentLogger, namespace: NAMESPACE };
    const serve = async (actor: Parameters<typeof serveActor>[1]) => {
      const nc = await connect({ servers: server.url });
      connections.push(nc);
      actors.push(await serveActor(nc, actor, options));
    };
    for (let i = 0; i < 2; i++) {
      // A write of `failWriteOf`'s stock fails once (the seller dies half-way through a sale).
      const inventory = withHooks(createInventoryActor({ reservationTtlMs: TTL_MS, expirySweepMs: 100 }), {
        state: (bucket, store) =>
          bucket !== "inventory_stock"
            ? store
            : {
                ...store,
                update(key, fn) {
                  if (key !== failWriteOf) return store.update(key, fn);
                  failWriteOf = undefined;
                  return Promise.reject(new Error(`test: the write of ${key} is lost`));
                },
              },
      });
      await serve(inventory);
    }
    await serve(
      defineActor({
        name: "observer",
        version: "1.0.0",
        description: "records StockAdjusted",
        consumes: { events: [StockAdjustedSchema, StockReservedSchema] },
        subscriptions: () => [
          onEvent(StockAdjustedSchema, (change) => {
            changes.push(change);
            for (const w of [...waiters]) if (w.match(change)) w.resolve();
          }),
          onEvent(StockReservedSchema, () => undefined),
        ],
      }),
    );
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    inventory = createClient(
      InventoryService,
      createNatsTransport({ nc, namespace: NAMESPACE, timeoutMs: 15_000 }),
    );
  });

  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  const stockOf = async (productId: string) => {
    const { stock } = await inventory.getStock({ productId });
    return [Number(stock?.onHand), Number(stock?.reserved), Number(stock?.available)];
  };
  const released = (reservationId: string, productId: string) =>
    seen(
      (e) =>
        e.productId === productId && e.adjustmentId === `inventory:release:${reservationId}:${productId}`,
      `release of ${reservationId}`,
    );

  test("an expired reservation gives its stock back, and a late sale is refused", TIMEOUT, async () => {
    await inventory.adjustStock({
      adjustmentId: "restock-x",
      productId: "p-x",
      delta: 5n,
      reason: StockAdjustmentReason.RESTOCK,
    });
    const held = await inventory.reserveStock({
      orderId: "late",
      items: [{ productId: "p-x", quantity: 3n }],
    });
    assert.equal(held.status, ReservationStatus.RESERVED);
    assert.ok(held.expiresAt);
    const expiresAtMs = timestampMs(held.expiresAt);
    assert.ok(Math.abs(expiresAtMs - (Date.now() + TTL_MS)) < 1_000, "expires_at = now + TTL");
    assert.deepEqual(await stockOf("p-x"), [5, 3, 2], "held");
    const short = await inventory.reserveStock({
      orderId: "short",
      items: [{ productId: "p-x", quantity: 5n }],
    });
    assert.equal(short.status, ReservationStatus.OUT_OF_STOCK, "the hold counts until it expires");

    await released(held.reservationId, "p-x");
    assert.ok(Date.now() >= expiresAtMs, "not given back before expires_at");
    assert.deepEqual(await stockOf("p-x"), [5, 0, 5], "given back");
    const late = await connectErrorOf(
      inventory.adjustStock({
        adjustmentId: "late-sale",
        productId: "p-x",
        delta: -3n,
        reason: StockAdjustmentReason.SALE,
        reservationId: held.reservationId,
      }),
    );
    assert.equal(late.code, Code.FailedPrecondition);
    assert.deepEqual(await stockOf("p-x"), [5, 0, 5], "nothing sold");
    const again = await inventory.reserveStock({
      orderId: "after",
      items: [{ productId: "p-x", quantity: 5n }],
    });
    assert.equal(again.status, ReservationStatus.RESERVED, "the whole stock can be held again");
  });

  test("a reservation sold in time stays sold when it expires", TIMEOUT, async () => {
    await inventory.adjustStock({
      adjustmentId: "restock-y",
      productId: "p-y",
      delta: 10n,
      reason: StockAdjustmentReason.RESTOCK,
    });
    const sold = await inventory.reserveStock({
      orderId: "sold",
      items: [{ productId: "p-y", quantity: 4n }],
    });
    const sale = {
      adjustmentId: "in-time",
      productId: "p-y",
      delta: -4n,
      reason: StockAdjustmentReason.SALE,
      reservationId: sold.reservationId,
    };
    await inventory.adjustStock(sale);
    const open = await openStateStore(connections[0] as NatsConnection, {
      bucket: "inventory_open_reservations",
      namespace: NAMESPACE,
      schema: StockReservedSchema,
    });
    await eventually(async () => (await open.keys()).length === 0, "every reservation swept");
    assert.deepEqual(await stockOf("p-y"), [6, 0, 6], "the sale stands and holds nothing");
    assert.ok(
      !changes.some((e) => e.adjustmentId.startsWith(`inventory:release:${sold.reservationId}`)),
      "no release of a sold reservation",
    );
    assert.equal(
      (await inventory.adjustStock(sale)).stock?.onHand,
      6n,
      "a retry of the sale still answers it",
    );
  });

  test(
    "a sale decided in time whose seller failed half-way is completed at expiry, never undone",
    TIMEOUT,
    async () => {
      for (const productId of ["p-half-a", "p-half-b"]) {
        await inventory.adjustStock({
          adjustmentId: `restock-${productId}`,
          productId,
          delta: 10n,
          reason: StockAdjustmentReason.RESTOCK,
        });
      }
      const items = [
        { productId: "p-half-a", quantity: 2n },
        { productId: "p-half-b", quantity: 3n },
      ];
      const held = await inventory.reserveStock({ orderId: "half", items });
      assert.equal(held.status, ReservationStatus.RESERVED);
      failWriteOf = "p-half-b"; // the sale of p-half-a is written, then the seller fails
      await connectErrorOf(inventory.sellReservation({ orderId: "half" }));
      assert.equal(failWriteOf, undefined, "the sale got as far as p-half-b");
      assert.deepEqual(await stockOf("p-half-a"), [8, 0, 8], "p-half-a sold");
      assert.deepEqual(await stockOf("p-half-b"), [10, 3, 7], "p-half-b still held");
      const release = await connectErrorOf(inventory.releaseReservation({ orderId: "half" }));
      assert.equal(release.code, Code.FailedPrecondition, "decided sold: it cannot be released any more");

      await seen(
        (e) => e.adjustmentId === `inventory:sale:${held.reservationId}:p-half-b`,
        "the sweep's sale of p-half-b",
      );
      assert.deepEqual(
        await stockOf("p-half-b"),
        [7, 0, 7],
        "sold by the sweep once the reservation expired",
      );
      assert.deepEqual(await stockOf("p-half-a"), [8, 0, 8]);
      const again = await inventory.sellReservation({ orderId: "half" });
      assert.deepEqual(
        again.stock.map((s) => [s.productId, s.onHand]),
        [
          ["p-half-a", 8n],
          ["p-half-b", 7n],
        ],
        "a retry of the sale answers it, after the expiry too",
      );
    },
  );
});
