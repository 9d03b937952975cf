/**
 * One trace through the shop: an HTTP request to the gateway (REST, `POST /v1/orders` with a
 * `traceparent`) → the order actor → InventoryService.ReserveStock and PaymentService.Charge
 * (synchronous) → StockAdjusted → the product actor's handler, and OrderPlaced, with every
 * span's parent where it belongs. The real gateway (on a real
 * port) and the real product, payment, order and inventory actors are served in-process against
 * a real nats-server, with an in-process OpenTelemetry SDK (docs/adr/0014-tracing-and-metrics.md).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { type ActorDefinition, connect, type RunningActor, serveActor, silentLogger } from "troupe";
import { type RunningGateway, serveGateway } from "troupe/gateway";
import { installTracing, type TracingSdk } from "troupe/observability";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createInventoryActor } from "../../actors/inventory/actor.ts";
import { createOrderActor } from "../../actors/order/actor.ts";
import { createPaymentActor } from "../../actors/payment/actor.ts";
import { productActor } from "../../actors/product/actor.ts";
import { type Order, OrderSchema, OrderService, OrderStatus } from "../../proto/gen/shop/v1/order_pb.ts";
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
  let gateway: RunningGateway;
  let token: string;

  const connection = async () => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };

  before(async () => {
    server = await startNatsServer();
    sdk = await installTracing({ serviceName: "shop", exporter: spans, processor: "simple" });
    const options = { logger: silentLogger, namespace: NAMESPACE };
    const shop: ActorDefinition[] = [
      productActor,
      createInventoryActor(),
      createPaymentActor(),
      createOrderActor(),
    ];
    for (const actor of shop) {
      actors.push(await serveActor(await connection(), actor, options));
    }
    const keys = await generateKeyPair("ES256", { extractable: true });
    token = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256" })
      .setSubject("u-1")
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(keys.privateKey);
    gateway = await serveGateway(
      {
        nc: await connection(),
        services: [OrderService],
        namespace: NAMESPACE,
        jwt: { publicKey: await exportSPKI(keys.publicKey), algorithms: ["ES256"] },
        logger: silentLogger,
      },
      { port: 0, hostname: "127.0.0.1", discovery: false },
    );
  });

  after(async () => {
    await gateway?.stop(1_000);
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await sdk?.shutdown();
    await server?.dispose();
  });

  /**
   * Where the trace starts: a client span whose context travels to the gateway in the HTTP
   * `traceparent` header, as any W3C-instrumented HTTP client sends it.
   */
  const entry = async (body: unknown): Promise<{ root: ReadableSpan; order: Order }> => {
    let response: Response | undefined;
    await trace.getTracer("test").startActiveSpan("checkout", { kind: SpanKind.CLIENT }, async (span) => {
      try {
        const headers: Record<string, string> = {
          "content-type": "application/json",
          authorization: `Bearer ${token}`,
        };
        propagation.inject(context.active(), headers);
        assert.match(headers.traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        response = await fetch(`${gateway.url}/v1/orders`, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
        });
      } finally {
        span.end();
      }
    });
    const root = await spans.next((s) => s.name === "checkout", "the entry span");
    assert.ok(response);
    const json = (await response.json()) as { order?: unknown };
    assert.equal(response.status, 200, JSON.stringify(json));
    const order = fromJson(OrderSchema, json.order as JsonValue);
    return { root, order };
  };

  test(
    "gateway → PlaceOrder → ReserveStock, Charge → StockAdjusted → product is one trace with the right parents",
    TIMEOUT,
    async () => {
      const { root, order } = await entry({
        idempotencyKey: "traced",
        items: [{ productId: "p-1001", quantity: 2 }],
        shippingAddress: ADDRESS,
        paymentMethodToken: "tok_visa",
      });
      assert.equal(order.status, OrderStatus.PAID);
      assert.equal(order.userId, "u-1", "the token's subject");
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
      const under = (parent: ReadableSpan) => (s: ReadableSpan) =>
        s.parentSpanContext?.spanId === parent.spanContext().spanId;

      const gatewayServer = await one("POST /v1/orders", SpanKind.SERVER);
      const placeClient = await one("shop.v1.OrderService/PlaceOrder", SpanKind.CLIENT);
      const placeServer = await one("shop.v1.OrderService/PlaceOrder", SpanKind.SERVER);
      const reserveClient = await one("shop.v1.InventoryService/ReserveStock", SpanKind.CLIENT);
      const reserveServer = await one("shop.v1.InventoryService/ReserveStock", SpanKind.SERVER);
      const chargeClient = await one("shop.v1.PaymentService/Charge", SpanKind.CLIENT);
      const chargeServer = await one("shop.v1.PaymentService/Charge", SpanKind.SERVER);
      childOf(gatewayServer, root);
      childOf(placeClient, gatewayServer);
      childOf(placeServer, placeClient);
      childOf(reserveClient, placeServer);
      childOf(reserveServer, reserveClient);
      childOf(chargeClient, placeServer);
      childOf(chargeServer, chargeClient);
      // The hold's StockAdjusted, published by ReserveStock, reaches the product actor's handler
      // (its consumer span ends after the handler, so it is awaited).
      const publishHold = await one("publish shop.v1.StockAdjusted", SpanKind.PRODUCER, under(reserveServer));
      const productHandler = await one(
        "process shop.v1.StockAdjusted",
        SpanKind.CONSUMER,
        under(publishHold),
      );
      assert.match(String(productHandler.attributes["messaging.consumer.group.name"]), /^product/);
      // The sale is in the trace too: PlaceOrder sells, or the order's PaymentCaptured follower
      // does (then SellReservation descends from Charge through PaymentCaptured).
      await one("shop.v1.InventoryService/SellReservation", SpanKind.SERVER);
      const parentOf = (span: ReadableSpan) =>
        spans.next(
          (s) => inTrace(s) && s.spanContext().spanId === span.parentSpanContext?.spanId,
          `the parent of ${SpanKind[span.kind]} ${span.name}`,
        );
      // PlaceOrder announces the order; the order actor's PaymentCaptured follower may announce it
      // first (same order, same message id, so the stream keeps one): then that publish descends
      // from Charge through PaymentCaptured. Either way it is in the tree below the request.
      const publishPlaced = await one("publish shop.v1.OrderPlaced", SpanKind.PRODUCER);
      const announcer = await parentOf(publishPlaced);
      if (announcer.spanContext().spanId !== placeServer.spanContext().spanId) {
        assert.equal(announcer.name, "process shop.v1.PaymentCaptured", "announced by the order's follower");
        assert.match(String(announcer.attributes["messaging.consumer.group.name"]), /^order/);
        const capturedPublish = await parentOf(announcer);
        assert.equal(capturedPublish.name, "publish shop.v1.PaymentCaptured");
        childOf(capturedPublish, chargeServer);
      }
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
