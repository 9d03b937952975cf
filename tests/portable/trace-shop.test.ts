/**
 * One trace through the shop: a PlaceOrder call → the order actor → PaymentService.Charge
 * (synchronous) → OrderPlaced → the inventory's handler, with every span's parent where it
 * belongs. The real product, payment, order and inventory actors are served in-process with
 * `serveActor` against a real nats-server, with an in-process OpenTelemetry SDK.
 *
 * The trace starts at `entry`: for now a root span around a direct call, standing in for the
 * gateway. The gateway leg replaces it with an HTTP request carrying a `traceparent`; the
 * assertions below the entry stay as they are (docs/adr/0014-tracing-and-metrics.md).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Client, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { SpanKind, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import { createInventoryActor } from "../../actors/inventory/actor.ts";
import { createOrderActor } from "../../actors/order/actor.ts";
import { createPaymentActor } from "../../actors/payment/actor.ts";
import { createProductActor } from "../../actors/product/actor.ts";
import { openCatalog } from "../../actors/product/catalog.ts";
import { InventoryService, StockAdjustmentReason } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { type Order, OrderService, OrderStatus } from "../../proto/gen/shop/v1/order_pb.ts";
import {
  connect,
  createNatsTransport,
  type RunningActor,
  serveActor,
  silentLogger,
} from "../../runtime/mod.ts";
import { installTracing, type TracingSdk } from "../../runtime/platform/tracing-sdk.ts";
import { type NatsServer, startNatsServer } from "../../runtime/testing.ts";
import { SpanLog } from "../support/span-log.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "shop";
const ADDRESS = { name: "Ada Lovelace", lines: ["1 Analytical Way"], city: "London", countryCode: "GB" };

describe("one trace through the shop", () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  const spans = new SpanLog();
  let sdk: TracingSdk;
  let orders: Client<typeof OrderService>;
  let inventory: Client<typeof InventoryService>;

  const connection = async () => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };

  before(async () => {
    server = await startNatsServer();
    sdk = await installTracing({ serviceName: "shop", exporter: spans, processor: "simple" });
    const options = { logger: silentLogger, namespace: NAMESPACE };
    const catalog = createProductActor({
      catalog: (ctx) => openCatalog(ctx.nc, { namespace: ctx.namespace }),
    });
    for (const actor of [catalog, createInventoryActor(), createPaymentActor(), createOrderActor()]) {
      actors.push(await serveActor(await connection(), actor, options));
    }
    const transport = createNatsTransport({
      nc: await connection(),
      namespace: NAMESPACE,
      timeoutMs: 15_000,
    });
    orders = createClient(OrderService, transport);
    inventory = createClient(InventoryService, transport);
  });

  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await sdk?.shutdown();
    await server?.dispose();
  });

  /**
   * Where the trace starts, and the span every other one descends from. The gateway leg will
   * send the request through the gateway and return its server span instead.
   */
  const entry = async (
    call: () => Promise<Order | undefined>,
  ): Promise<{ root: ReadableSpan; order: Order }> => {
    let order: Order | undefined;
    await trace.getTracer("test").startActiveSpan("checkout", async (span) => {
      try {
        order = await call();
      } finally {
        span.end();
      }
    });
    const root = await spans.next((s) => s.name === "checkout", "the entry span");
    assert.ok(order, "PlaceOrder answered an order");
    return { root, order };
  };

  test(
    "PlaceOrder → Charge → OrderPlaced → inventory is one trace with the right parents",
    TIMEOUT,
    async () => {
      await inventory.adjustStock({
        adjustmentId: "restock-p-1001",
        productId: "p-1001",
        delta: 10n,
        reason: StockAdjustmentReason.RESTOCK,
      });
      const { root, order } = await entry(async () => {
        const { order } = await orders.placeOrder({
          idempotencyKey: "traced",
          userId: "u-1",
          items: [{ productId: "p-1001", quantity: 2 }],
          shippingAddress: ADDRESS,
          paymentMethodToken: "tok_visa",
        });
        return order;
      });
      assert.equal(order.status, OrderStatus.PAID);
      const traceId = root.spanContext().traceId;
      const inTrace = (s: ReadableSpan) => s.spanContext().traceId === traceId;
      const one = (name: string, kind: SpanKind, extra: (s: ReadableSpan) => boolean = () => true) =>
        spans.next(
          (s) => inTrace(s) && s.name === name && s.kind === kind && extra(s),
          `${SpanKind[kind]} ${name}`,
        );
      const childOf = (child: ReadableSpan, parent: ReadableSpan) => {
        assert.equal(
          child.parentSpanContext?.spanId,
          parent.spanContext().spanId,
          `${SpanKind[child.kind]} ${child.name} is a child of ${SpanKind[parent.kind]} ${parent.name}`,
        );
      };

      const placeClient = await one("shop.v1.OrderService/PlaceOrder", SpanKind.CLIENT);
      const placeServer = await one("shop.v1.OrderService/PlaceOrder", SpanKind.SERVER);
      const chargeClient = await one("shop.v1.PaymentService/Charge", SpanKind.CLIENT);
      const chargeServer = await one("shop.v1.PaymentService/Charge", SpanKind.SERVER);
      const publishPlaced = await one("publish shop.v1.OrderPlaced", SpanKind.PRODUCER);
      // The inventory's handler: its consumer span ends after the handler, so it is awaited.
      const inventoryHandler = await one("process shop.v1.OrderPlaced", SpanKind.CONSUMER, (s) =>
        String(s.attributes["messaging.consumer.group.name"]).startsWith("inventory"),
      );

      childOf(placeClient, root);
      childOf(placeServer, placeClient);
      childOf(chargeClient, placeServer);
      childOf(chargeServer, chargeClient);
      childOf(publishPlaced, placeServer);
      childOf(inventoryHandler, publishPlaced);
      assert.match(
        String(publishPlaced.attributes["messaging.destination.name"]),
        /\.evt\.shop\.v1\.OrderPlaced\./,
      );

      // Whatever else happened for this order (pricing, PaymentCaptured, the inventory's own
      // events) hangs off the same tree: no span of the trace has a parent outside it.
      // A parent may still be running (a handler whose calls already ended): it is awaited.
      for (const span of spans.getFinishedSpans().filter(inTrace)) {
        if (span === root) continue;
        const parentId = span.parentSpanContext?.spanId ?? "";
        await spans.next(
          (s) => inTrace(s) && s.spanContext().spanId === parentId,
          `the parent of ${SpanKind[span.kind]} ${span.name} in the trace`,
        );
      }
    },
  );
});
