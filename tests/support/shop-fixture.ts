/**
 * The shop's order path served in-process against a real nats-server with JetStream, for the
 * saga tests: product, two inventory instances, payment, billing and the order actor (observed
 * step by step, order-steps.ts), each on its own connection, and an observer actor that records
 * every event the saga causes, which the tests await. Clients for each service, the order
 * actor's charge records (to prove that nothing was charged), and a gateway in front of them
 * when asked.
 */
import assert from "node:assert/strict";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  defineActor,
  onEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createBillingActor } from "../../actors/billing/actor.ts";
import { createInventoryActor, type InventoryActorOptions } from "../../actors/inventory/actor.ts";
import { chargeKeyOf, createOrderActor, type OrderActorOptions } from "../../actors/order/actor.ts";
import { createPaymentActor } from "../../actors/payment/actor.ts";
import { productActor } from "../../actors/product/actor.ts";
import { type InvoiceCreated, InvoiceCreatedSchema } from "../../proto/gen/shop/v1/billing_pb.ts";
import {
  InventoryService,
  type OutOfStock,
  OutOfStockSchema,
  type StockAdjusted,
  StockAdjustedSchema,
  type StockReserved,
  StockReservedSchema,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import {
  type OrderCancelled,
  OrderCancelledSchema,
  type OrderPlaced,
  OrderPlacedSchema,
  OrderService,
} from "../../proto/gen/shop/v1/order_pb.ts";
import {
  type PaymentCaptured,
  PaymentCapturedSchema,
  type PaymentRefunded,
  PaymentRefundedSchema,
  PaymentSchema,
  PaymentService,
} from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { storesOn } from "./actor-hooks.ts";
import { deferred, withTimeout } from "./jetstream-test-kit.ts";
import { type OrderStep, observeOrderSteps } from "./order-steps.ts";
import { storedEvents } from "./stored-events.ts";

export const NAMESPACE = "shop";
export const ADDRESS = {
  name: "Ada Lovelace",
  lines: ["1 Analytical Way"],
  city: "London",
  countryCode: "GB",
};

/** What was seen, in order; `next` finds the first entry (seen already or still to come) that matches. */
export interface Recorder<T> {
  readonly entries: readonly T[];
  add(entry: T): void;
  next(match: (entry: T) => boolean, what: string, timeoutMs?: number): Promise<T>;
}

export function recorder<T>(name: string): Recorder<T> {
  const entries: T[] = [];
  const waiters = new Set<{ match: (entry: T) => boolean; resolve: (entry: T) => void }>();
  return {
    entries,
    add(entry) {
      entries.push(entry);
      for (const waiter of [...waiters]) {
        if (!waiter.match(entry)) continue;
        waiters.delete(waiter);
        waiter.resolve(entry);
      }
    },
    next(match, what, timeoutMs = 20_000) {
      const seen = entries.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      const found = deferred<T>();
      const waiter = { match, resolve: found.resolve };
      waiters.add(waiter);
      return withTimeout(found.promise, timeoutMs, () => `${name}: no ${what}`).finally(() =>
        waiters.delete(waiter),
      );
    },
  };
}

/** Every event of the saga, as the observer actor received them. */
export interface ShopEvents {
  readonly stock: Recorder<StockAdjusted>;
  readonly reserved: Recorder<StockReserved>;
  readonly outOfStock: Recorder<OutOfStock>;
  readonly placed: Recorder<OrderPlaced>;
  readonly cancelled: Recorder<OrderCancelled>;
  readonly captured: Recorder<PaymentCaptured>;
  readonly refunded: Recorder<PaymentRefunded>;
  readonly invoices: Recorder<InvoiceCreated>;
}

export interface ShopFixtureOptions {
  readonly order: Partial<OrderActorOptions>;
  readonly inventory: Partial<InventoryActorOptions>;
  /** Sees each step of the order actor's saga; may wait or throw (order-steps.ts). */
  readonly step: (step: OrderStep) => void | Promise<void>;
}

export interface ShopFixture {
  readonly server: NatsServer;
  /** A connection of the test's own. */
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly orders: Client<typeof OrderService>;
  readonly inventory: Client<typeof InventoryService>;
  readonly payments: Client<typeof PaymentService>;
  readonly products: Client<typeof ProductService>;
  readonly events: ShopEvents;
  /** A product's level: [on_hand, reserved, available]. */
  stockOf(productId: string): Promise<[number, number, number]>;
  /** True when the payment actor has a charge for the order (its one idempotency key). */
  charged(orderId: string): Promise<boolean>;
  /** The events stored under one key (the stream's own record). */
  stored<Desc extends DescMessage>(schema: Desc, key: string): Promise<MessageShape<Desc>[]>;
  close(): Promise<void>;
}

export async function startShopFixture(partial: Partial<ShopFixtureOptions> = {}): Promise<ShopFixture> {
  const server = await startNatsServer();
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  const connection = async () => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };
  const options = { logger: silentLogger, namespace: NAMESPACE };
  const serve = async (actor: Parameters<typeof serveActor>[1]) => {
    actors.push(await serveActor(await connection(), actor, options));
  };
  const events: ShopEvents = {
    stock: recorder("StockAdjusted"),
    reserved: recorder("StockReserved"),
    outOfStock: recorder("OutOfStock"),
    placed: recorder("OrderPlaced"),
    cancelled: recorder("OrderCancelled"),
    captured: recorder("PaymentCaptured"),
    refunded: recorder("PaymentRefunded"),
    invoices: recorder("InvoiceCreated"),
  };
  await serve(productActor);
  await serve(createInventoryActor(partial.inventory));
  await serve(createInventoryActor(partial.inventory));
  await serve(createPaymentActor());
  await serve(createBillingActor());
  const step = partial.step ?? (() => undefined);
  await serve(
    observeOrderSteps(createOrderActor({ paymentCaptured: { retryDelayMs: 50 }, ...partial.order }), step),
  );
  await serve(
    defineActor({
      name: "observer",
      version: "1.0.0",
      description: "records the saga's events",
      consumes: {
        events: [
          StockAdjustedSchema,
          StockReservedSchema,
          OutOfStockSchema,
          OrderPlacedSchema,
          OrderCancelledSchema,
          PaymentCapturedSchema,
          PaymentRefundedSchema,
          InvoiceCreatedSchema,
        ],
      },
      subscriptions: () => [
        onEvent(StockAdjustedSchema, (e) => events.stock.add(e)),
        onEvent(StockReservedSchema, (e) => events.reserved.add(e)),
        onEvent(OutOfStockSchema, (e) => events.outOfStock.add(e)),
        onEvent(OrderPlacedSchema, (e) => events.placed.add(e)),
        onEvent(OrderCancelledSchema, (e) => events.cancelled.add(e)),
        onEvent(PaymentCapturedSchema, (e) => events.captured.add(e)),
        onEvent(PaymentRefundedSchema, (e) => events.refunded.add(e)),
        onEvent(InvoiceCreatedSchema, (e) => events.invoices.add(e)),
      ],
    }),
  );
  const nc = await connection();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const transport = createNatsTransport({ nc, namespace: NAMESPACE, timeoutMs: 15_000 });
  const inventory = createClient(InventoryService, transport);
  const charges = await storesOn(nc, NAMESPACE).state("payment_charges", PaymentSchema);
  return {
    server,
    nc,
    js,
    jsm,
    orders: createClient(OrderService, transport),
    inventory,
    payments: createClient(PaymentService, transport),
    products: createClient(ProductService, transport),
    events,
    async stockOf(productId) {
      const { stock } = await inventory.getStock({ productId });
      assert.ok(stock, `GetStock(${productId}) answers a level`);
      return [Number(stock.onHand), Number(stock.reserved), Number(stock.available)];
    },
    async charged(orderId) {
      return (await charges.get(stateKeyOf(chargeKeyOf(orderId)))) !== undefined;
    },
    stored: (schema, key) => storedEvents(js, jsm, schema, key, NAMESPACE),
    async close() {
      for (const actor of actors) await actor.drain(1_000);
      for (const c of connections) await c.close();
      await server.dispose();
    },
  };
}
