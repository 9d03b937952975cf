/**
 * The payment actor (shop.v1.PaymentService) served in-process against a real nats-server with
 * JetStream: charges captured and declined by the simulated provider, idempotent charges and
 * refunds, partial and full refunds in exact minor units, and the refusals payment.proto names.
 * What was published is read back from the event stream, so a test counts every PaymentCaptured
 * and PaymentRefunded the stream kept.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport, type RunningActor, serveActor, silentLogger } from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createPaymentActor } from "../../actors/payment/actor.ts";
import {
  type ChargeRequestSchema,
  type Payment,
  PaymentCapturedSchema,
  PaymentRefundedSchema,
  PaymentService,
  PaymentStatus,
} from "../../proto/gen/shop/v1/payment_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { storedEvents } from "../support/stored-events.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "shop";
const eur = (amountMinor: number) => ({ amountMinor: BigInt(amountMinor), currency: "EUR" });

describe("payment actor", () => {
  let server: NatsServer;
  let actor: RunningActor;
  const connections: NatsConnection[] = [];
  let payments: Client<typeof PaymentService>;
  let js: JetStreamClient;
  let jsm: JetStreamManager;

  before(async () => {
    server = await startNatsServer();
    const serving = await connect({ servers: server.url });
    const calling = await connect({ servers: server.url });
    connections.push(serving, calling);
    actor = await serveActor(serving, createPaymentActor(), { logger: silentLogger, namespace: NAMESPACE });
    payments = createClient(
      PaymentService,
      createNatsTransport({ nc: calling, namespace: NAMESPACE, timeoutMs: 15_000 }),
    );
    js = jetstream(calling);
    jsm = await jetstreamManager(calling);
  });

  after(async () => {
    await actor?.drain(1_000);
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  const captures = (paymentId: string) => storedEvents(js, jsm, PaymentCapturedSchema, paymentId, NAMESPACE);
  const refunds = (paymentId: string) => storedEvents(js, jsm, PaymentRefundedSchema, paymentId, NAMESPACE);
  const charge = async (request: MessageInitShape<typeof ChargeRequestSchema>): Promise<Payment> => {
    const { payment } = await payments.charge(request);
    assert.ok(payment, "Charge answers a payment");
    return payment;
  };
  const visa = (key: string, amountMinor = 1_000) => ({
    idempotencyKey: key,
    orderId: `o-${key}`,
    userId: "u-1",
    amount: eur(amountMinor),
    paymentMethodToken: "tok_visa",
    description: "test",
  });

  test("a charge is captured, stored, announced once, and GetPayment returns it", TIMEOUT, async () => {
    const payment = await charge(visa("captured", 1_999));
    assert.equal(payment.status, PaymentStatus.CAPTURED);
    assert.match(payment.id, /^pay-/);
    assert.equal(payment.orderId, "o-captured");
    assert.deepEqual([payment.amount?.amountMinor, payment.amount?.currency], [1_999n, "EUR"]);
    assert.deepEqual([payment.refundedAmount?.amountMinor, payment.refundedAmount?.currency], [0n, "EUR"]);
    assert.match(payment.providerReference, /^sim_[0-9a-f]{24}$/);
    assert.equal(payment.declineReason, "");
    assert.ok(payment.capturedAt !== undefined && payment.createdAt !== undefined);
    assert.deepEqual((await payments.getPayment({ id: payment.id })).payment, payment);

    const events = await captures(payment.id);
    assert.equal(events.length, 1, "one PaymentCaptured");
    assert.deepEqual(
      [events[0]?.orderId, events[0]?.userId, events[0]?.amount?.amountMinor],
      ["o-captured", "u-1", 1_999n],
    );
  });

  test(
    "tok_decline… is declined: a DECLINED payment, not an error, and no PaymentCaptured",
    TIMEOUT,
    async () => {
      const declined = await charge({ ...visa("declined"), paymentMethodToken: "tok_decline" });
      assert.equal(declined.status, PaymentStatus.DECLINED);
      assert.equal(declined.declineReason, "card_declined");
      assert.equal(declined.providerReference, "");
      assert.equal(declined.capturedAt, undefined);
      const poor = await charge({ ...visa("poor"), paymentMethodToken: "tok_decline_insufficient_funds" });
      assert.equal(poor.declineReason, "insufficient_funds");
      assert.equal((await payments.getPayment({ id: declined.id })).payment?.status, PaymentStatus.DECLINED);
      assert.equal((await captures(declined.id)).length, 0);
      assert.equal((await captures(poor.id)).length, 0);

      const refund = await connectErrorOf(payments.refund({ paymentId: declined.id, idempotencyKey: "r" }));
      assert.equal(refund.code, Code.FailedPrecondition, "a declined payment has nothing to refund");
    },
  );

  test(
    "Charge is idempotent per key; the key of another charge is failed_precondition",
    TIMEOUT,
    async () => {
      const request = visa("twice", 500);
      const answers = await Promise.all([1, 2, 3].map(() => charge(request)));
      const later = await charge(request);
      assert.equal(new Set([...answers, later].map((p) => p.id)).size, 1, "one payment for four calls");
      assert.equal(new Set([...answers, later].map((p) => p.providerReference)).size, 1);
      assert.equal((await captures(later.id)).length, 1, "one PaymentCaptured for four calls");

      for (const [what, other] of [
        ["another amount", { ...request, amount: eur(501) }],
        ["another currency", { ...request, amount: { amountMinor: 500n, currency: "USD" } }],
        ["another order", { ...request, orderId: "o-other" }],
      ] as const) {
        const error = await connectErrorOf(payments.charge(other));
        assert.equal(error.code, Code.FailedPrecondition, what);
        assert.match(error.rawMessage, /idempotency_key/);
      }
    },
  );

  test("Charge refuses invalid input with invalid_argument naming the field", TIMEOUT, async () => {
    const valid = visa("invalid");
    const { amount: _, ...withoutAmount } = valid;
    const cases: [string, MessageInitShape<typeof ChargeRequestSchema>][] = [
      ["idempotency_key", { ...valid, idempotencyKey: "" }],
      ["order_id", { ...valid, orderId: "" }],
      ["user_id", { ...valid, userId: "" }],
      ["amount", withoutAmount],
      // A rule of the amount field (payment.proto): Money's amount_minor may be negative elsewhere.
      ["amount: amount_minor must be positive", { ...valid, amount: eur(0) }],
      ["amount: amount_minor must be positive", { ...valid, amount: eur(-5) }],
      ["amount.currency", { ...valid, amount: { amountMinor: 5n, currency: "eur" } }],
      ["payment_method_token", { ...valid, paymentMethodToken: "" }],
    ];
    for (const [field, request] of cases) {
      const error = await connectErrorOf(payments.charge(request));
      assert.equal(error.code, Code.InvalidArgument, field);
      assert.ok(error.rawMessage.startsWith(field), `"${error.rawMessage}" names ${field}`);
    }
    assert.equal((await charge(valid)).status, PaymentStatus.CAPTURED, "the actor keeps serving");
  });

  test("partial then full refunds add up exactly; over-refunds are refused", TIMEOUT, async () => {
    const payment = await charge(visa("refunds", 1_000));
    const first = await payments.refund({
      paymentId: payment.id,
      idempotencyKey: "r-1",
      amount: eur(300),
      reason: "one item returned",
    });
    assert.match(first.refundId, /^rf-/);
    assert.equal(first.refunded?.amountMinor, 300n);
    assert.equal(first.payment?.status, PaymentStatus.PARTIALLY_REFUNDED);
    assert.equal(first.payment?.refundedAmount?.amountMinor, 300n);

    const retried = await payments.refund({ paymentId: payment.id, idempotencyKey: "r-1", amount: eur(300) });
    assert.equal(retried.refundId, first.refundId, "a retry answers the first refund");
    assert.equal(retried.payment?.refundedAmount?.amountMinor, 300n, "and refunds nothing again");
    const reused = await connectErrorOf(
      payments.refund({ paymentId: payment.id, idempotencyKey: "r-1", amount: eur(301) }),
    );
    assert.equal(reused.code, Code.FailedPrecondition, "the key of a refund of another amount");

    const over = await connectErrorOf(
      payments.refund({ paymentId: payment.id, idempotencyKey: "r-over", amount: eur(701) }),
    );
    assert.equal(over.code, Code.FailedPrecondition, "701 > the 700 left");
    const usd = await connectErrorOf(
      payments.refund({
        paymentId: payment.id,
        idempotencyKey: "r-usd",
        amount: { amountMinor: 1n, currency: "USD" },
      }),
    );
    assert.equal(usd.code, Code.InvalidArgument, "another currency");
    assert.match(usd.rawMessage, /^amount\.currency/);

    const rest = await payments.refund({ paymentId: payment.id, idempotencyKey: "r-rest" });
    assert.equal(rest.refunded?.amountMinor, 700n, "an unset amount refunds what is left");
    assert.equal(rest.payment?.status, PaymentStatus.REFUNDED);
    assert.equal(rest.payment?.refundedAmount?.amountMinor, 1_000n);
    const more = await connectErrorOf(
      payments.refund({ paymentId: payment.id, idempotencyKey: "r-more", amount: eur(1) }),
    );
    assert.equal(more.code, Code.FailedPrecondition, "nothing is left");
    assert.equal((await payments.getPayment({ id: payment.id })).payment?.status, PaymentStatus.REFUNDED);

    const events = await refunds(payment.id);
    assert.deepEqual(
      events.map((e) => [
        e.refundId,
        e.amount?.amountMinor,
        e.refundedTotal?.amountMinor,
        e.fullyRefunded,
        e.orderId,
      ]),
      [
        [first.refundId, 300n, 300n, false, "o-refunds"],
        [rest.refundId, 700n, 1_000n, true, "o-refunds"],
      ],
      "one PaymentRefunded per refund, none for the retry",
    );
    assert.equal(events[0]?.reason, "one item returned");
  });

  test("concurrent refunds of one payment never refund more than was captured", TIMEOUT, async () => {
    const payment = await charge(visa("race", 1_000));
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        payments.refund({ paymentId: payment.id, idempotencyKey: `race-${i}`, amount: eur(300) }),
      ),
    );
    const done = results.filter((r) => r.status === "fulfilled");
    assert.equal(done.length, 3, "three refunds of 300 fit in 1000");
    assert.equal((await payments.getPayment({ id: payment.id })).payment?.refundedAmount?.amountMinor, 900n);
  });

  test("GetPayment and Refund of an unknown payment are not_found", TIMEOUT, async () => {
    assert.equal((await connectErrorOf(payments.getPayment({ id: "pay-missing" }))).code, Code.NotFound);
    assert.equal((await connectErrorOf(payments.getPayment({ id: "no.such key" }))).code, Code.NotFound);
    assert.equal((await connectErrorOf(payments.getPayment({ id: "" }))).code, Code.InvalidArgument);
    const refund = await connectErrorOf(payments.refund({ paymentId: "pay-missing", idempotencyKey: "r" }));
    assert.equal(refund.code, Code.NotFound);
  });
});
