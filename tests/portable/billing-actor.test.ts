/**
 * The mission's fourth scenario: the billing actor follows PaymentCaptured, finds the payment
 * service through discovery ($SRV), calls GetPayment on one chosen instance directly and creates
 * the order's invoice once. Billing, two instances of a small stand-in payment actor (the real
 * one is written elsewhere) and an observer of InvoiceCreated are served in-process on a real
 * nats-server with JetStream.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  defineActor,
  implement,
  type Logger,
  onEvent,
  publishEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { eventStreamName, eventSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createBillingActor } from "../../actors/billing/actor.ts";
import {
  BillingService,
  type InvoiceCreated,
  InvoiceCreatedSchema,
  InvoiceStatus,
} from "../../proto/gen/shop/v1/billing_pb.ts";
import {
  type Payment,
  PaymentCapturedSchema,
  PaymentSchema,
  PaymentService,
  PaymentStatus,
} from "../../proto/gen/shop/v1/payment_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { createTally, eventually } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "bill";
const STREAM = eventStreamName("shop.v1", NAMESPACE);

describe("billing actor", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let billing: Client<typeof BillingService>;
  const connections: NatsConnection[] = [];
  const payments = new Map<string, Payment>();
  const paymentInstances = new Map<string, RunningActor>();
  /** Every GetPayment a payment instance served: which instance, on which subject. */
  const getPaymentCalls: { instance: string; subject: string; id: string }[] = [];
  const invoices: InvoiceCreated[] = [];
  const invoicesSeen = createTally("InvoiceCreated");
  const logs: { message: string; fields: Record<string, unknown> }[] = [];
  const billingLogger: Logger = { log: (_level, message, fields = {}) => logs.push({ message, fields }) };
  let billingActor: RunningActor;

  const serve = async (actor: Parameters<typeof serveActor>[1], logger: Logger = silentLogger) => {
    const own = await connect({ servers: server.url });
    connections.push(own);
    return serveActor(own, actor, { namespace: NAMESPACE, logger });
  };
  const servePayment = async () => {
    let self = "";
    const running = await serve(
      defineActor({
        name: "payment",
        version: "1.0.0",
        description: "stand-in: GetPayment from a map",
        serves: [PaymentService],
        services: (ctx) => {
          self = ctx.instanceId;
          return [
            implement(PaymentService, {
              getPayment(request, context) {
                getPaymentCalls.push({ instance: self, subject: context.url, id: request.id });
                const payment = payments.get(request.id);
                if (payment === undefined)
                  throw new ConnectError(`payment ${request.id} not found`, Code.NotFound);
                return { payment };
              },
            }),
          ];
        },
      }),
    );
    paymentInstances.set(running.id, running);
    return running;
  };
  const capture = async (paymentId: string, orderId: string, amountMinor: bigint, messageId = paymentId) => {
    payments.set(
      paymentId,
      create(PaymentSchema, {
        id: paymentId,
        orderId,
        userId: "u-1",
        amount: { amountMinor, currency: "EUR" },
        status: PaymentStatus.CAPTURED,
      }),
    );
    await publishEvent(
      js,
      PaymentCapturedSchema,
      { paymentId, orderId, userId: "u-1", amount: { amountMinor, currency: "EUR" } },
      { namespace: NAMESPACE, id: messageId },
    );
  };
  const billingIdle = () =>
    eventually(async () => {
      const info = await jsm.consumers.info(STREAM, "billing_PaymentCaptured");
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, "billing acknowledged every PaymentCaptured");
  const storedInvoiceEvents = async (invoiceId: string) => {
    const subject = eventSubject(InvoiceCreatedSchema, invoiceId, NAMESPACE);
    const info = await jsm.streams.info(STREAM, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  };

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await servePayment();
    await servePayment();
    billingActor = await serve(
      createBillingActor({ payments: { strategy: "fastest", discoveryTtlMs: 60_000 } }),
      billingLogger,
    );
    await serve(
      defineActor({
        name: "observer",
        version: "1.0.0",
        description: "records InvoiceCreated",
        consumes: { events: [InvoiceCreatedSchema] },
        subscriptions: () => [
          onEvent(InvoiceCreatedSchema, (event) => {
            invoices.push(event);
            invoicesSeen.add(event.orderId);
          }),
        ],
      }),
    );
    billing = createClient(BillingService, createNatsTransport({ nc, namespace: NAMESPACE }));
  });

  after(async () => {
    await billingActor?.drain(500);
    for (const actor of paymentInstances.values()) await actor.drain(500);
    for (const c of [...connections, nc]) await c.close();
    await server?.dispose();
  });

  test(
    "a captured payment is invoiced once, read by a direct call to a discovered instance",
    TIMEOUT,
    async () => {
      await capture("pay-1", "o-1", 4_250n);
      await invoicesSeen.reached(1);
      const [event] = invoices;
      assert.equal(event?.orderId, "o-1");
      assert.equal(event?.total?.amountMinor, 4_250n);
      assert.match(event?.number ?? "", /^INV-\d{6}$/);

      const calls = getPaymentCalls.filter((c) => c.id === "pay-1");
      assert.equal(calls.length, 1, "GetPayment called once");
      const [call] = calls;
      assert.ok(call && paymentInstances.has(call.instance), "served by a payment instance");
      assert.ok(call.subject.endsWith(`.GetPayment.${call.instance}`), `on its own subject: ${call.subject}`);
      const logged = logs.find((l) => l.fields.paymentId === "pay-1");
      assert.equal(logged?.fields.instance, call.instance, "billing logged the instance it called");

      const { invoice } = await billing.createInvoice({
        orderId: "o-1",
        userId: "u-1",
        lines: [{ description: "again", quantity: 1n, unitPrice: { amountMinor: 1n, currency: "EUR" } }],
      });
      assert.equal(invoice?.id, event?.invoiceId, "CreateInvoice is idempotent per order");
      assert.equal(invoice?.status, InvoiceStatus.PAID);
      assert.equal(invoice?.paymentId, "pay-1");
    },
  );

  test("a redelivered capture creates nothing again", TIMEOUT, async () => {
    await capture("pay-2", "o-2", 990n);
    await invoicesSeen.reached(2);
    const first = invoices.find((i) => i.orderId === "o-2");
    // The same capture delivered again (as a new message: the duplicate window would drop the same id).
    await capture("pay-2", "o-2", 990n, "pay-2-again");
    await billingIdle();
    assert.equal(getPaymentCalls.filter((c) => c.id === "pay-2").length, 1, "no second GetPayment");
    assert.equal(await storedInvoiceEvents(first?.invoiceId ?? ""), 1, "one InvoiceCreated stored");
    assert.equal(invoices.filter((i) => i.orderId === "o-2").length, 1);
  });

  test("invoice numbers follow each other; bad requests are `invalid_argument`", TIMEOUT, async () => {
    const line = {
      description: "T-shirt",
      quantity: 2n,
      unitPrice: { amountMinor: 1_500n, currency: "EUR" },
    };
    const a = await billing.createInvoice({ orderId: "o-10", userId: "u-2", lines: [line] });
    const b = await billing.createInvoice({ orderId: "o-11", userId: "u-2", lines: [line] });
    assert.equal(a.invoice?.total?.amountMinor, 3_000n);
    assert.equal(a.invoice?.status, InvoiceStatus.ISSUED);
    assert.equal(Number(b.invoice?.number.slice(4)) - Number(a.invoice?.number.slice(4)), 1);
    for (const bad of [
      { orderId: "", userId: "u", lines: [line] },
      { orderId: "o-12", userId: "u", lines: [] },
      { orderId: "o-12", userId: "u", lines: [{ ...line, quantity: 0n }] },
      {
        orderId: "o-12",
        userId: "u",
        lines: [line, { ...line, unitPrice: { amountMinor: 1n, currency: "USD" } }],
      },
    ]) {
      assert.equal((await connectErrorOf(billing.createInvoice(bad))).code, Code.InvalidArgument);
    }
  });

  test("when the instance billing would call is gone, it calls another", TIMEOUT, async () => {
    const used = getPaymentCalls.at(-1)?.instance ?? assert.fail("a payment instance was called");
    await paymentInstances.get(used)?.drain(500);
    paymentInstances.delete(used);
    const seen = invoices.length;
    await capture("pay-3", "o-3", 100n);
    await invoicesSeen.reached(seen + 1);
    const call = getPaymentCalls.find((c) => c.id === "pay-3");
    assert.ok(call && call.instance !== used && paymentInstances.has(call.instance));
  });
});
