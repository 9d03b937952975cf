/**
 * The shop's cart (shop/v1/cart.proto, actors/cart): a keyed actor per cart, on the whole order
 * path served in-process (tests/support/shop-fixture.ts) plus the user, email and cart actors, the
 * email actor sending to a real SMTP server (the SMTP sink). Lines are priced from the catalogue;
 * a checkout places one PAID order however often it is retried, and the stock moves once; a
 * declined checkout leaves the cart as it was; a failed one keeps its lines and refuses changes
 * until a retried Checkout settles its order; a cart left alone gets one reminder mail after the
 * (short) abandonment time, and a cart checked out before gets none. Through the gateway, the
 * REST routes with a customer's token, and another customer's cart refused.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  declarationOf,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { gatewayDeclaration, type RunningGateway } from "troupe/gateway";
import { deadLetterStreamName, deadLetterSubject, jobConsumerName, jobStreamName } from "troupe/protocol";
import { type SecuredNatsServer, startSecuredNatsServer } from "troupe/testing";
import { type ReceivedMail, type SmtpSink, startSmtpSink } from "troupe/testing/smtp";
import { createCartActor } from "../../actors/cart/actor.ts";
import { createEmailActor } from "../../actors/email/actor.ts";
import { productActor } from "../../actors/product/actor.ts";
import { userActor } from "../../actors/user/actor.ts";
import { type Cart, CartService } from "../../proto/gen/shop/v1/cart_pb.ts";
import { SendCartReminderSchema } from "../../proto/gen/shop/v1/email_pb.ts";
import { CancelReason, OrderPlacedSchema, OrderStatus } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentCapturedSchema } from "../../proto/gen/shop/v1/payment_pb.ts";
import { type User, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { serveGatewayWithTokens } from "../support/gateway-with-tokens.ts";
import { deferred, eventually } from "../support/jetstream-test-kit.ts";
import type { OrderStep } from "../support/order-steps.ts";
import { ADDRESS, NAMESPACE, type ShopFixture, startShopFixture } from "../support/shop-fixture.ts";

const TIMEOUT = { timeout: 60_000 };
/** The cart actor's abandonment time here: long enough for a test's own calls, short to wait for. */
const ABANDONED_AFTER_MS = 1_500;
const MAIL_WAIT_MS = 15_000;
/** A reminder mail, not the welcome mail every new customer gets. */
const isReminder = (subject: string) => subject.endsWith("your cart is waiting for you");

describe("the cart", () => {
  let shop: ShopFixture;
  let sink: SmtpSink;
  let atStep: ((step: OrderStep) => void | Promise<void>) | undefined;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  let carts: Client<typeof CartService>;
  let users: Client<typeof UserService>;

  /** Serves `actor` on a connection of its own, as a process of its own would. */
  const serve = async (actor: Parameters<typeof serveActor>[1]) => {
    const nc = await connect({ servers: shop.server.url });
    connections.push(nc);
    actors.push(await serveActor(nc, actor, { namespace: NAMESPACE, logger: silentLogger }));
  };
  let registered = 0;
  /** A new customer; their cart id is their user id. */
  const customer = async (name: string): Promise<User> => {
    const { user } = await users.registerUser({
      idempotencyKey: `cart-test-${++registered}`,
      email: `${name}@example.org`,
      displayName: name,
    });
    assert.ok(user);
    return user;
  };
  const cartOf = async (response: Promise<{ cart?: Cart | undefined }>): Promise<Cart> => {
    const { cart } = await response;
    assert.ok(cart, "a reply carries the cart");
    return cart;
  };
  const linesOf = (cart: Cart) =>
    cart.lines.map((l) => [l.productId, l.quantity, l.unitPrice?.amountMinor, l.lineTotal?.amountMinor]);
  const checkout = (cartId: string, generation: bigint, paymentMethodToken = "tok_visa") =>
    carts.checkout({ cartId, generation, shippingAddress: ADDRESS, paymentMethodToken });

  before(async () => {
    shop = await startShopFixture({ step: (step) => atStep?.(step) });
    sink = await startSmtpSink();
    await serve(userActor);
    await serve(createEmailActor({ smtpUrl: sink.url }));
    await serve(createCartActor({ abandonedAfterMs: ABANDONED_AFTER_MS }));
    const transport = createNatsTransport({ nc: shop.nc, namespace: NAMESPACE, timeoutMs: 15_000 });
    carts = createClient(CartService, transport);
    users = createClient(UserService, transport);
  });
  after(async () => {
    atStep = undefined;
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await sink?.stop();
    await shop?.close();
  });

  test(
    "AddItem prices lines from the catalogue; RemoveItem and GetCart; bad additions refused",
    TIMEOUT,
    async () => {
      const { id } = await customer("lines");
      const empty = await cartOf(carts.getCart({ cartId: id }));
      assert.deepEqual(
        [empty.cartId, empty.lines, empty.generation, empty.subtotal],
        [id, [], 0n, undefined],
      );

      await carts.addItem({ cartId: id, productId: "p-1001", quantity: 2 });
      await carts.addItem({ cartId: id, productId: "p-1003", quantity: 1 });
      const added = await cartOf(carts.addItem({ cartId: id, productId: "p-1001", quantity: 1 }));
      assert.deepEqual(
        linesOf(added),
        [
          ["p-1001", 3, 2490n, 7470n],
          ["p-1003", 1, 11900n, 11900n],
        ],
        "the catalogue's prices; more of a product adds to its line",
      );
      assert.deepEqual([added.subtotal?.amountMinor, added.subtotal?.currency], [19370n, "EUR"]);
      assert.equal(added.lines[1]?.name, "Merino hoodie, navy, M");
      assert.deepEqual(await cartOf(carts.getCart({ cartId: id })), added, "GetCart reads what AddItem left");

      const removed = await cartOf(carts.removeItem({ cartId: id, productId: "p-1003" }));
      assert.deepEqual(linesOf(removed), [["p-1001", 3, 2490n, 7470n]]);
      const again = await cartOf(carts.removeItem({ cartId: id, productId: "p-1003" }));
      assert.deepEqual(again, removed, "removing what is not there changes nothing");

      const refusals: [string, () => Promise<unknown>, Code, RegExp][] = [
        [
          "unknown product",
          () => carts.addItem({ cartId: id, productId: "p-404", quantity: 1 }),
          Code.NotFound,
          /p-404/,
        ],
        [
          "withdrawn product",
          () => carts.addItem({ cartId: id, productId: "p-1012", quantity: 1 }),
          Code.FailedPrecondition,
          /not for sale/,
        ],
        [
          "no units",
          () => carts.addItem({ cartId: id, productId: "p-1001", quantity: 0 }),
          Code.InvalidArgument,
          /quantity/,
        ],
        [
          "too many",
          () => carts.addItem({ cartId: id, productId: "p-1001", quantity: 100 }),
          Code.InvalidArgument,
          /quantity/,
        ],
        [
          "over the line's cap",
          () => carts.addItem({ cartId: id, productId: "p-1001", quantity: 97 }),
          Code.FailedPrecondition,
          /at most 99 units/,
        ],
        ["no cart id", () => carts.getCart({ cartId: "" }), Code.InvalidArgument, /cart_id/],
      ];
      for (const [what, call, code, message] of refusals) {
        const error = await connectErrorOf(call());
        assert.equal(error.code, code, `${what}: ${error.rawMessage}`);
        assert.match(error.rawMessage, message, what);
      }
      assert.deepEqual(
        await cartOf(carts.getCart({ cartId: id })),
        removed,
        "a refused addition changes nothing",
      );
    },
  );

  test(
    "Checkout called twice with the same generation places one PAID order; the stock moves once",
    TIMEOUT,
    async () => {
      const { id } = await customer("twice");
      const [onHand] = await shop.stockOf("p-1004");
      await carts.addItem({ cartId: id, productId: "p-1004", quantity: 2 });
      const { generation } = await cartOf(carts.getCart({ cartId: id }));
      assert.equal(generation, 0n);

      const [first, second] = await Promise.all([checkout(id, generation), checkout(id, generation)]);
      const order = first.order;
      assert.ok(order);
      assert.equal(order.status, OrderStatus.PAID, `${order.status} ${order.cancelReason}`);
      assert.equal(second.order?.id, order.id, "both calls answer the one order");
      assert.equal(order.userId, id, "the customer whose cart it is");
      assert.deepEqual(
        order.lines.map((l) => [l.productId, l.quantity, l.lineTotal?.amountMinor]),
        [["p-1004", 2, 29800n]],
      );
      assert.deepEqual(linesOf(first.cart as Cart), [], "the cart is emptied");
      assert.equal(first.cart?.generation, 1n, "and starts its next generation");
      const late = await checkout(id, generation);
      assert.equal(late.order?.id, order.id, "a retry after the fact answers the same order");

      assert.deepEqual(await shop.stockOf("p-1004"), [onHand - 2, 0, onHand - 2], "two units taken, once");
      const captured = await shop.stored(PaymentCapturedSchema, order.paymentId);
      assert.deepEqual(
        captured.map((c) => [c.orderId, c.amount?.amountMinor]),
        [[order.id, 29800n]],
        "charged once, what the order costs",
      );
      assert.equal((await shop.stored(OrderPlacedSchema, order.id)).length, 1);

      const future = await connectErrorOf(checkout(id, 5n));
      assert.equal(future.code, Code.FailedPrecondition);
      assert.match(future.rawMessage, /generation 5 does not exist/);
      const empty = await connectErrorOf(checkout(id, 1n));
      assert.equal(empty.code, Code.FailedPrecondition);
      assert.match(empty.rawMessage, /is empty/);
    },
  );

  test(
    "a declined checkout leaves the cart as it was; the next checkout is a new attempt",
    TIMEOUT,
    async () => {
      const { id } = await customer("declined");
      const [onHand] = await shop.stockOf("p-1005");
      await carts.addItem({ cartId: id, productId: "p-1005", quantity: 3 });
      const before = await cartOf(carts.getCart({ cartId: id }));

      const declined = await checkout(id, before.generation, "tok_decline_insufficient_funds");
      assert.deepEqual(
        [declined.order?.status, declined.order?.cancelReason],
        [OrderStatus.CANCELLED, CancelReason.PAYMENT_DECLINED],
      );
      const kept = await cartOf(carts.getCart({ cartId: id }));
      assert.deepEqual(kept, before, "lines, subtotal, generation: as they were");
      assert.deepEqual(await shop.stockOf("p-1005"), [onHand, 0, onHand], "nothing taken, nothing held");

      const paid = await checkout(id, kept.generation);
      assert.equal(paid.order?.status, OrderStatus.PAID);
      assert.notEqual(paid.order?.id, declined.order?.id, "a new order, not the cancelled one again");
      assert.deepEqual(await shop.stockOf("p-1005"), [onHand - 3, 0, onHand - 3]);
    },
  );

  test(
    "a Checkout whose PlaceOrder fails keeps the lines and refuses changes; its retry finishes that order, once",
    TIMEOUT,
    async () => {
      const { id } = await customer("failed");
      const [onHand] = await shop.stockOf("p-1006");
      await carts.addItem({ cartId: id, productId: "p-1006", quantity: 2 });
      const before = await cartOf(carts.getCart({ cartId: id }));
      // PlaceOrder fails after the stock was reserved: the order exists, PENDING. (`internal`, as
      // from a crash: the cart's client would retry `unavailable` itself, with the same key.)
      const died = deferred<string>();
      atStep = ({ step, orderId, byCall }) => {
        if (step !== "reserved" || !byCall) return;
        atStep = undefined;
        died.resolve(orderId);
        throw new ConnectError("test: PlaceOrder fails after the reservation", Code.Internal);
      };
      const failed = await connectErrorOf(checkout(id, before.generation));
      assert.equal(failed.code, Code.Internal, failed.rawMessage);
      const orderId = await died.promise;
      const pending = await cartOf(carts.getCart({ cartId: id }));
      assert.deepEqual(
        pending,
        { ...before, checkoutPending: true },
        "the lines as they were, the checkout pending",
      );
      // The order of these lines may exist: changing them now could make a second order.
      for (const change of [
        () => carts.addItem({ cartId: id, productId: "p-1001", quantity: 1 }),
        () => carts.removeItem({ cartId: id, productId: "p-1006" }),
      ]) {
        const refused = await connectErrorOf(change());
        assert.equal(refused.code, Code.FailedPrecondition, refused.rawMessage);
        assert.match(refused.rawMessage, /checkout whose outcome is not known yet: call Checkout again/);
      }
      assert.deepEqual(await cartOf(carts.getCart({ cartId: id })), pending, "nothing changed");

      const retried = await checkout(id, before.generation);
      assert.equal(retried.order?.id, orderId, "the retry finishes the order the first call began");
      assert.equal(retried.order?.status, OrderStatus.PAID);
      assert.deepEqual(await shop.stockOf("p-1006"), [onHand - 2, 0, onHand - 2], "taken once");
      assert.deepEqual(linesOf(retried.cart as Cart), []);
      assert.equal(retried.cart?.checkoutPending, false, "settled");
      await carts.addItem({ cartId: id, productId: "p-1006", quantity: 1 });
    },
  );

  test("a cart left alone gets one reminder mail; a cart checked out before gets none", TIMEOUT, async () => {
    const left = await customer("left");
    const bought = await customer("bought");
    const later = await customer("later");
    await carts.addItem({ cartId: left.id, productId: "p-1001", quantity: 1 });
    await carts.addItem({ cartId: left.id, productId: "p-1008", quantity: 2 });
    await carts.addItem({ cartId: bought.id, productId: "p-1009", quantity: 1 });
    const paid = await checkout(bought.id, 0n);
    assert.equal(paid.order?.status, OrderStatus.PAID);
    // Left after the bought cart's reminder would have been due: once its mail is here, any
    // mail for the bought cart (or a second one for the first) would have come first.
    await carts.addItem({ cartId: later.id, productId: "p-1001", quantity: 1 });

    const reminderTo = (user: User) => (m: ReceivedMail) =>
      m.to.includes(user.email) && isReminder(m.subject);
    const mail = await sink.waitFor(reminderTo(left), MAIL_WAIT_MS);
    assert.equal(mail.subject, "left, your cart is waiting for you");
    assert.match(mail.text, /you left 3 items in your cart \(EUR 84\.70\)/);
    await sink.waitFor(reminderTo(later), MAIL_WAIT_MS);
    const jobs = jobStreamName(SendCartReminderSchema, NAMESPACE);
    const taker = jobConsumerName(SendCartReminderSchema);
    await eventually(async () => {
      const info = await shop.jsm.consumers.info(jobs, taker);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, "the email actor took every reminder job");
    // None was refused either (a reminder of an emptied cart would be: it has nothing to show).
    const refused = deadLetterSubject(jobs, taker, NAMESPACE);
    const letters = await shop.jsm.streams.info(deadLetterStreamName(NAMESPACE), {
      subjects_filter: refused,
    });
    assert.equal(letters.state.subjects?.[refused] ?? 0, 0, "no reminder job dead-lettered");
    const reminders = (user: User) => sink.messages().filter(reminderTo(user)).length;
    assert.equal(reminders(left), 1, "one reminder for the cart left alone");
    assert.equal(reminders(bought), 0, "none for the cart checked out");
  });

  describe("through the gateway", () => {
    let gateway: RunningGateway;
    let token: (sub: string) => Promise<string>;
    before(async () => {
      ({ gateway, token } = await serveGatewayWithTokens(shop.nc, NAMESPACE, [CartService]));
    });
    after(async () => {
      await gateway?.stop(1_000);
    });

    /** A REST call as `sub` (no token when undefined); answers the status and the JSON body. */
    const call = async (
      sub: string | undefined,
      method: string,
      path: string,
      body?: object,
      extra: Record<string, string> = {},
    ) => {
      const res = await fetch(`${gateway.url}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...(sub === undefined ? {} : { authorization: `Bearer ${await token(sub)}` }),
          ...extra,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    type CartJson = {
      cart: { cartId: string; lines?: { productId: string; quantity: number }[]; generation?: string };
    };
    type OrderJson = { order: { id: string; userId: string; status: string } };

    test(
      "the REST routes with the customer's token; another customer's cart is refused",
      TIMEOUT,
      async () => {
        const { id } = await customer("rest");
        const items = `/v1/carts/${id}/items`;
        const added = await call(id, "POST", items, { productId: "p-1002", quantity: 2 });
        assert.equal(added.status, 200, JSON.stringify(added.json));
        // A client's retry with the same Idempotency-Key is answered, not added twice.
        for (let attempt = 0; attempt < 2; attempt++) {
          const retried = await call(
            id,
            "POST",
            items,
            { productId: "p-1007", quantity: 1 },
            {
              "idempotency-key": `add-p-1007-${id}`,
            },
          );
          assert.equal(retried.status, 200, JSON.stringify(retried.json));
        }
        const read = await call(id, "GET", `/v1/carts/${id}`);
        assert.equal(read.status, 200);
        assert.deepEqual(
          (read.json as CartJson).cart.lines?.map((l) => [l.productId, l.quantity]),
          [
            ["p-1002", 2],
            ["p-1007", 1],
          ],
        );
        const removed = await call(id, "DELETE", `${items}/p-1007`);
        assert.equal(removed.status, 200);
        assert.deepEqual(
          (removed.json as CartJson).cart.lines?.map((l) => l.productId),
          ["p-1002"],
        );

        const eve = await customer("eve");
        for (const [method, path, body] of [
          ["GET", `/v1/carts/${id}`, undefined],
          ["POST", items, { productId: "p-1001", quantity: 1 }],
          ["DELETE", `${items}/p-1002`, undefined],
          ["POST", `/v1/carts/${id}:checkout`, { shippingAddress: ADDRESS, paymentMethodToken: "tok_visa" }],
        ] as const) {
          const refused = await call(eve.id, method, path, body);
          assert.equal(refused.status, 403, `${method} ${path} as another customer`);
          assert.equal(refused.json.code, "permission_denied");
        }
        assert.equal((await call(undefined, "GET", `/v1/carts/${id}`)).status, 401, "no token, no cart");

        const done = await call(id, "POST", `/v1/carts/${id}:checkout`, {
          generation: "0",
          shippingAddress: ADDRESS,
          paymentMethodToken: "tok_visa",
        });
        assert.equal(done.status, 200, JSON.stringify(done.json));
        const { order } = done.json as OrderJson;
        assert.deepEqual([order.userId, order.status], [id, "ORDER_STATUS_PAID"]);
        const after = (await call(id, "GET", `/v1/carts/${id}`)).json as CartJson;
        assert.deepEqual(
          [after.cart.lines ?? [], after.cart.generation],
          [[], "1"],
          "emptied, next generation",
        );
      },
    );
  });
});

describe("the cart under the credentials its declaration derives", () => {
  let secured: SecuredNatsServer;
  let sink: SmtpSink;
  const actors: RunningActor[] = [];

  before(async () => {
    secured = await startSecuredNatsServer();
    sink = await startSmtpSink();
  });
  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    await sink?.stop();
    await secured?.dispose();
  });

  // `troupe dev` runs every actor with such credentials (docs/adr/0030-credentials-from-declarations.md).
  test(
    "turns, calls to the catalogue, the reminder and its job, and the gateway's calls all pass",
    TIMEOUT,
    async () => {
      const cart = createCartActor({ abandonedAfterMs: 300 });
      const email = createEmailActor({ smtpUrl: sink.url });
      for (const actor of [productActor, userActor, email, cart]) {
        const nc = await secured.connectAs(declarationOf(actor));
        actors.push(await serveActor(nc, actor, { logger: silentLogger }));
      }
      const admin = await secured.connectAs("admin");
      const { user } = await createClient(UserService, createNatsTransport({ nc: admin })).registerUser({
        idempotencyKey: "secured-cart",
        email: "secured@example.org",
        displayName: "Sec",
      });
      assert.ok(user);
      const asGateway = await secured.connectAs(gatewayDeclaration([CartService], "0.0.0"));
      const carts = createClient(CartService, createNatsTransport({ nc: asGateway, timeoutMs: 10_000 }));
      const { cart: added } = await carts.addItem({ cartId: user.id, productId: "p-1001", quantity: 1 });
      assert.deepEqual(
        added?.lines.map((l) => l.unitPrice?.amountMinor),
        [2490n],
      );
      const mail = await sink.waitFor(
        (m) => m.to.includes(user.email) && isReminder(m.subject),
        MAIL_WAIT_MS,
      );
      assert.match(mail.text, /you left 1 item in your cart \(EUR 24\.90\)/);
    },
  );
});
