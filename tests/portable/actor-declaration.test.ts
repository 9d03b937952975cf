/**
 * What an actor declares (serves, calls, publishes, consumes, state) holds in-process, with a
 * message that names the declaration to add, and is what its NATS permissions derive from
 * (docs/adr/0030-credentials-from-declarations.md). Against a real nats-server without
 * authentication: the in-process checks alone refuse here.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type ActorContext,
  connect,
  declarationOf,
  defineActor,
  implement,
  onEvent,
  serveActor,
  silentLogger,
} from "troupe";
import { permissionsOf } from "troupe/security";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createOrderActor } from "../../actors/order/actor.ts";
import { OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentService } from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserRegisteredSchema, UserSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";

const TIMEOUT = { timeout: 30_000 };

describe("an actor's declaration", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  after(async () => {
    await nc?.close();
    await server?.dispose();
  });

  test("calling a service not in `calls` is permission_denied, naming what to add", TIMEOUT, async () => {
    let context: ActorContext | undefined;
    const running = await serveActor(
      nc,
      defineActor({
        name: "caller",
        version: "1.0.0",
        description: "calls what it declares",
        calls: [ProductService],
        state: ["people"],
        setup(ctx) {
          context = ctx;
        },
      }),
      { logger: silentLogger },
    );
    try {
      assert.ok(context);
      context.client(ProductService); // declared: a client
      assert.throws(
        () => context?.client(PaymentService),
        (err: unknown) =>
          err instanceof ConnectError &&
          err.code === Code.PermissionDenied &&
          err.rawMessage ===
            "actor caller calls shop.v1.PaymentService without declaring it: add PaymentService to `calls` in its defineActor",
      );
      await context.state("people", UserSchema); // declared: opened
      await assert.rejects(
        context.state("payments", UserSchema),
        (err: unknown) =>
          err instanceof ConnectError &&
          err.code === Code.PermissionDenied &&
          /opens the state bucket "payments" without declaring it: add "payments" to `state`/.test(
            err.message,
          ),
      );
    } finally {
      await running.drain(1_000);
    }
  });

  test("serving a service or handling a type it does not declare stops the start", TIMEOUT, async () => {
    await assert.rejects(
      serveActor(
        nc,
        defineActor({
          name: "sloppy",
          version: "1.0.0",
          description: "serves and consumes more than it says",
          serves: [ProductService],
          services: () => [implement(UserService, {})],
          subscriptions: () => [onEvent(UserRegisteredSchema, async () => {})],
        }),
        { logger: silentLogger },
      ),
      (err: Error) =>
        err.message ===
        "actor sloppy does more than it declares in its defineActor: it serves shop.v1.UserService: add UserService to `serves`; it handles the event shop.v1.UserRegistered: add UserRegistered to `consumes.events`",
    );
  });

  test("the declaration as data, and the permissions it derives", () => {
    const order = declarationOf(createOrderActor());
    assert.deepEqual(order, {
      name: "order",
      version: "1.0.0",
      serves: ["shop.v1.OrderService"],
      calls: ["shop.v1.ProductService", "shop.v1.InventoryService", "shop.v1.PaymentService"],
      publishes: { events: ["shop.v1.OrderPlaced", "shop.v1.OrderCancelled"], jobs: [] },
      consumes: { events: ["shop.v1.PaymentCaptured"], jobs: [] },
      state: ["orders", "order_requests", "order_pending"],
    });
    const { pub, sub } = permissionsOf(order, "acme");
    for (const allowed of [
      "acme.rpc.shop.v1.PaymentService.>",
      `acme.evt.${OrderPlacedSchema.typeName}.*`,
      "$JS.API.STREAM.*.KV_acme_orders",
      "$JS.API.CONSUMER.MSG.NEXT.acme_EVT_shop_v1.order_PaymentCaptured",
      "acme.dlq.acme_EVT_shop_v1.order_PaymentCaptured",
      "$KV.acme_troupe_processed.order_PaymentCaptured.>",
    ]) {
      assert.ok(pub.allow.includes(allowed), `order may publish ${allowed}`);
    }
    assert.ok(!pub.allow.some((s) => s.includes("UserService")), "order calls no UserService");
    assert.ok(!pub.allow.some((s) => s.includes("KV_acme_payments")), "order reads no payments bucket");
    assert.deepEqual(pub.deny, ["$JS.API.STREAM.DELETE.>"]);
    assert.deepEqual(
      [...sub.allow].sort(),
      [
        "$SRV.*",
        "$SRV.*.order",
        "$SRV.*.order.>",
        "_INBOX.acme_order.>",
        "acme.rpc.shop.v1.OrderService.>",
      ].sort(),
    );
  });
});
