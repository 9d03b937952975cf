/**
 * Issue 13, "tests that try to break in", on the bus: a real nats-server with Troupe's
 * authentication on (startSecuredNatsServer), the shop's actors served in-process, each
 * connected with exactly the credentials its declaration derives (docs/adr/0030-credentials-from-declarations.md).
 * What an actor declares works; everything else is refused by the server with a permissions
 * violation naming the subject, which the runtime turns into `permission_denied`, and nothing
 * crashes: the actors go on serving.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  declarationOf,
  openStateStore,
  publishEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { gatewayDeclaration } from "troupe/gateway";
import { type SecuredNatsServer, startSecuredNatsServer } from "troupe/testing";
import { createInventoryActor } from "../../actors/inventory/actor.ts";
import { createPaymentActor } from "../../actors/payment/actor.ts";
import { productActor } from "../../actors/product/actor.ts";
import { createUserActor } from "../../actors/user/actor.ts";
import { PaymentRecordSchema } from "../../proto/gen/shop/payment/state/v1/payment_state_pb.ts";
import { OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentService } from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { CounterService } from "../../proto/gen/troupe/testing/v1/counter_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { createCounterActor } from "../support/counter-actor.ts";
import { eventually } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };
/** How nats.js (the server's error) or the runtime (`permission_denied`) words a refusal. */
const VIOLATION = /Permissions Violation|not permitted to/;

describe("the bus with credentials from the declarations", () => {
  let secured: SecuredNatsServer;
  const actors: RunningActor[] = [];
  /** The user actor's own connection: it declares it calls ProductService and nothing else. */
  let asUser: NatsConnection;
  const user = createUserActor({ announceSweep: { intervalMs: 60_000 } });
  const payment = createPaymentActor();

  before(async () => {
    secured = await startSecuredNatsServer();
    const inventory = createInventoryActor();
    const options = { logger: silentLogger };
    asUser = await secured.connectAs(declarationOf(user));
    actors.push(await serveActor(asUser, user, options));
    actors.push(await serveActor(await secured.connectAs(declarationOf(payment)), payment, options));
    actors.push(
      await serveActor(await secured.connectAs(declarationOf(productActor)), productActor, options),
    );
    actors.push(await serveActor(await secured.connectAs(declarationOf(inventory)), inventory, options));
  });

  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    await secured?.dispose();
  });

  test("a client without credentials, or with a forged user, cannot connect", TIMEOUT, async () => {
    await assert.rejects(
      connect({ servers: secured.server.url, maxReconnectAttempts: 0 }),
      /Authorization Violation/i,
    );
  });

  test(
    "what an actor declares works under its credentials: a registration through its service",
    TIMEOUT,
    async () => {
      const admin = await secured.connectAs("admin");
      const users = createClient(UserService, createNatsTransport({ nc: admin }));
      const { user: registered } = await users.registerUser({
        idempotencyKey: "perm-1",
        email: "grace@example.org",
        displayName: "Grace",
      });
      assert.equal(registered?.email, "grace@example.org");
      const products = createClient(ProductService, createNatsTransport({ nc: asUser }));
      assert.equal(
        (await products.getProduct({ id: "p-1001" })).product?.id,
        "p-1001",
        "user may call ProductService",
      );
    },
  );

  test(
    "an actor cannot call a service it did not declare: permission_denied naming the subject",
    TIMEOUT,
    async () => {
      const payments = createClient(PaymentService, createNatsTransport({ nc: asUser, timeoutMs: 5_000 }));
      const refused = await connectErrorOf(
        payments.charge({
          idempotencyKey: "x",
          orderId: "o-1",
          amount: { amountMinor: 100n, currency: "EUR" },
        }),
      );
      assert.equal(refused.code, Code.PermissionDenied, refused.message);
      assert.match(refused.message, /rpc\.shop\.v1\.PaymentService\.Charge/);
    },
  );

  test("an actor cannot publish another service's event", TIMEOUT, async () => {
    await assert.rejects(
      publishEvent(
        jetstream(asUser),
        OrderPlacedSchema,
        { orderId: "o-forged", userId: "u-1" },
        { id: "o-forged" },
      ),
      (err: Error) => VIOLATION.test(err.message) && err.message.includes("evt.shop.v1.OrderPlaced.o-forged"),
    );
  });

  test("an actor cannot read another actor's state bucket", TIMEOUT, async () => {
    // The payment actor's bucket exists (it opened it); the user actor may not open it.
    await assert.rejects(
      openStateStore(asUser, { bucket: "payments", schema: PaymentRecordSchema }),
      (err: Error) => VIOLATION.test(err.message) && err.message.includes("KV_payments"),
    );
    const js = jetstream(asUser);
    await assert.rejects(
      js
        .jetstreamManager()
        .then((jsm) => jsm.streams.getMessage("KV_payments", { last_by_subj: "$KV.payments.>" })),
      VIOLATION,
    );
  });

  test("an actor cannot delete a stream, not even its own bucket's", TIMEOUT, async () => {
    const jsm = await jetstreamManager(asUser);
    await assert.rejects(jsm.streams.delete("KV_users"), /Permissions Violation.*STREAM\.DELETE\.KV_users/);
    await assert.rejects(jsm.streams.delete("EVT_shop_v1"), VIOLATION);
    await assert.rejects(
      jsm.streams.purge("EVT_shop_v1"),
      /Permissions Violation.*STREAM\.PURGE\.EVT_shop_v1/,
    );
  });

  test("an actor cannot subscribe to another service's subjects or another's replies", TIMEOUT, async () => {
    for (const subject of ["rpc.shop.v1.PaymentService.>", "_INBOX.order.>", "_INBOX.>", "$KV.payments.>"]) {
      const sub = asUser.subscribe(subject);
      const closed = await sub.closed;
      assert.ok(closed instanceof Error && VIOLATION.test(closed.message), `${subject}: ${String(closed)}`);
    }
  });

  test("the gateway's user reaches public methods only", TIMEOUT, async () => {
    const gateway = await secured.connectAs(
      gatewayDeclaration([PaymentService, ProductService, UserService], "0.0.0"),
    );
    const products = createClient(ProductService, createNatsTransport({ nc: gateway }));
    assert.equal((await products.getProduct({ id: "p-1001" })).product?.id, "p-1001");
    // Charge is private: not even a misrouted gateway may reach it.
    const payments = createClient(PaymentService, createNatsTransport({ nc: gateway, timeoutMs: 5_000 }));
    const refused = await connectErrorOf(
      payments.charge({
        idempotencyKey: "x",
        orderId: "o-1",
        amount: { amountMinor: 100n, currency: "EUR" },
      }),
    );
    assert.equal(refused.code, Code.PermissionDenied);
    assert.match(refused.message, /PaymentService\.Charge/);
  });

  test("a keyed actor works under its credentials: turns, forwarded calls, reminders", TIMEOUT, async () => {
    const counter = createCounterActor({ bucket: "counters_secured", leaseMs: 1_000, renewMs: 250 });
    for (let i = 0; i < 2; i++) {
      const nc = await secured.connectAs(declarationOf(counter));
      actors.push(await serveActor(nc, counter, { logger: silentLogger }));
    }
    const admin = await secured.connectAs("admin");
    const counters = createClient(CounterService, createNatsTransport({ nc: admin }));
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => counters.increment({ counterId: `secured-${i % 8}`, by: 1n })),
    );
    let sum = 0n;
    for (let i = 0; i < 8; i++) sum += (await counters.get({ counterId: `secured-${i}` })).turn?.value ?? 0n;
    assert.equal(sum, 40n);
    await counters.remind({ counterId: "secured-0", name: "ping", delayMs: 200 });
    await eventually(
      async () => (await counters.get({ counterId: "secured-0" })).turn?.reminded === 1n,
      "the reminder fired",
    );
    // A caller that does not route by key (`nats req`) reaches any instance, which forwards the
    // call to the owner of the key's partition.
    const hdrs = headers();
    hdrs.set("content-type", "application/json");
    for (let i = 0; i < 8; i++) {
      const reply = await admin.request(
        "rpc.troupe.testing.v1.CounterService.Get",
        new TextEncoder().encode(JSON.stringify({ counterId: `secured-${i}` })),
        { headers: hdrs, timeout: 5_000 },
      );
      assert.equal(reply.headers?.get("Nats-Service-Error") ?? "", "", `secured-${i} answered`);
      assert.equal(
        (JSON.parse(reply.string()) as { turn: { counterId: string } }).turn.counterId,
        `secured-${i}`,
      );
    }
  });

  test("after every refusal the actors still serve", TIMEOUT, async () => {
    const admin = await secured.connectAs("admin");
    const users = createClient(UserService, createNatsTransport({ nc: admin }));
    const { user: again } = await users.registerUser({
      idempotencyKey: "perm-2",
      email: "hopper@example.org",
      displayName: "Hopper",
    });
    assert.equal(again?.displayName, "Hopper");
    assert.equal(asUser.isClosed(), false, "a refusal does not close the refused connection");
  });
});
