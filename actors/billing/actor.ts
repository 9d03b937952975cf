/**
 * The billing actor: one invoice per order (shop.v1.BillingService), kept in JetStream KV
 * (invoice-store.ts), announced with InvoiceCreated (keyed and identified by the invoice id).
 *
 * It follows PaymentCaptured, the mission's fourth scenario: for each captured payment it finds
 * the instances of PaymentService through discovery (`$SRV`, NATS ADR-32), picks one (by default
 * the one with the lowest average GetPayment time in `$SRV.STATS`; an instance not measured yet
 * first), calls GetPayment on that instance directly, by its address over TCP when it advertises
 * one (the payment actor does; docs/adr/0031-direct-calls-by-address.md) and else on its own NATS
 * subject, logs which instance it called, and invoices the order for the payment's amount. A redelivered event finds the
 * invoice and only announces it again (the stream drops the duplicate); an instance that is
 * gone is replaced by another (createDirectCaller, docs/adr/0012-discovery-direct-calls-and-traffic.md); none at all fails the
 * delivery, which JetStream retries with backoff.
 *
 * `actors/billing/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type ActorContext,
  createDirectCaller,
  type DirectCaller,
  type DirectCallerOptions,
  defineActor,
  implement,
  onEvent,
  type SubscriptionOptions,
} from "troupe";
import {
  BillingService,
  type CreateInvoiceRequest,
  CreateInvoiceRequestSchema,
  type Invoice,
  InvoiceCreatedSchema,
  InvoiceSchema,
  InvoiceStatus,
} from "../../proto/gen/shop/v1/billing_pb.ts";
import { PaymentCapturedSchema, PaymentService, PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import { checkCreateInvoice } from "./invoice-request.ts";
import { type InvoiceStore, openInvoiceStore } from "./invoice-store.ts";

export interface BillingActorOptions {
  /** Makes the id of a new invoice; ids must be subject tokens (no dots): they key InvoiceCreated. */
  readonly newId: () => string;
  /** How the payment instance is discovered and chosen. */
  readonly payments: Partial<Omit<DirectCallerOptions, "transport">>;
  /** The deadline of one GetPayment call. */
  readonly paymentTimeoutMs: number;
  /**
   * The PaymentCaptured consumer's options (ack wait, attempts, concurrency). A payment actor
   * that is restarting is waited for (20 attempts with back-off), not dead-lettered after a few
   * seconds: every capture must get its invoice.
   */
  readonly paymentCaptured: Partial<SubscriptionOptions>;
}

export const defaultBillingActorOptions: BillingActorOptions = {
  newId: () => `inv-${crypto.randomUUID()}`,
  payments: { strategy: "fastest", byAddress: true },
  paymentTimeoutMs: 5_000,
  paymentCaptured: { maxAttempts: 20 },
};

/** What one instance keeps. */
export interface BillingState {
  readonly invoices: InvoiceStore;
  readonly payments: DirectCaller<typeof PaymentService>;
}

const publishes = { events: [InvoiceCreatedSchema] };
type BillingContext = ActorContext<typeof publishes>;

/** The billing actor with some options changed (tests, demos). */
export function createBillingActor(partial: Partial<BillingActorOptions> = {}) {
  const options: BillingActorOptions = { ...defaultBillingActorOptions, ...partial };

  /** Issues the order's invoice (or finds it) and announces it; the invoice id is the message id. */
  const invoiceOrder = async (ctx: BillingContext, state: BillingState, request: CreateInvoiceRequest) => {
    const { lines, total } = checkCreateInvoice(request);
    const invoice = await state.invoices.issue(request.orderId, (number) =>
      create(InvoiceSchema, {
        id: options.newId(),
        number: invoiceNumber(number),
        orderId: request.orderId,
        userId: request.userId,
        paymentId: request.paymentId,
        lines,
        total,
        tax: { amountMinor: 0n, currency: total.currency },
        status: request.paymentId === "" ? InvoiceStatus.ISSUED : InvoiceStatus.PAID,
        issuedAt: timestampNow(),
      }),
    );
    await announce(ctx, invoice);
    return invoice;
  };

  return defineActor({
    name: "billing",
    version: "1.0.0",
    description: "Invoices: one per paid order, numbered without gaps, read from the payment it settles.",
    serves: [BillingService],
    calls: [PaymentService],
    publishes,
    consumes: { events: [PaymentCapturedSchema] },
    state: ["invoices", "invoice_numbers"],
    async setup(ctx): Promise<BillingState> {
      return {
        invoices: await openInvoiceStore(ctx),
        payments: createDirectCaller(ctx.nc, PaymentService, {
          ...options.payments,
          transport: { namespace: ctx.namespace, timeoutMs: options.paymentTimeoutMs },
        }),
      };
    },

    // The TCP connections of the calls by address end with the instance.
    stop: (_ctx, state) => state.payments.close(),

    services: (ctx, state) => [
      implement(BillingService, {
        async createInvoice(request) {
          return { invoice: await invoiceOrder(ctx, state, request) };
        },
      }),
    ],

    subscriptions: (ctx, state) => [
      onEvent(
        PaymentCapturedSchema,
        async (event, meta) => {
          if (event.orderId === "" || event.paymentId === "") {
            throw new ConnectError("PaymentCaptured without order_id or payment_id", Code.InvalidArgument);
          }
          const done = await state.invoices.ofOrder(event.orderId);
          if (done !== undefined) {
            await announce(ctx, done); // completes a delivery that died between storing and announcing
            return;
          }
          const { payment, instance } = await state.payments.call(
            PaymentService.method.getPayment,
            async (client, instance) => {
              const { payment } = await client.getPayment({ id: event.paymentId }, { signal: meta.signal });
              return { payment, instance };
            },
          );
          ctx.logger.log("info", "read the payment from a discovered instance", {
            paymentId: event.paymentId,
            instance: instance.id,
            version: instance.version,
            host: instance.host,
          });
          if (payment === undefined || payment.amount === undefined) {
            throw new ConnectError(`payment ${event.paymentId} came back empty`, Code.DataLoss);
          }
          if (payment.orderId !== event.orderId || payment.status === PaymentStatus.DECLINED) {
            throw new ConnectError(
              `payment ${event.paymentId} is not a capture for order ${event.orderId}`,
              Code.FailedPrecondition,
            );
          }
          await invoiceOrder(
            ctx,
            state,
            create(CreateInvoiceRequestSchema, {
              orderId: event.orderId,
              userId: event.userId === "" ? payment.userId : event.userId,
              paymentId: payment.id,
              lines: [{ description: `Order ${event.orderId}`, quantity: 1n, unitPrice: payment.amount }],
            }),
          );
        },
        options.paymentCaptured,
      ),
    ],
  });
}

/** The billing actor as `actors/billing/main.ts` runs it. */
export const billingActor = createBillingActor();

/** `INV-000042`: the sequence number, zero-padded to six digits (more digits when it grows). */
export function invoiceNumber(number: bigint): string {
  return `INV-${number.toString().padStart(6, "0")}`;
}

async function announce(ctx: BillingContext, invoice: Invoice): Promise<void> {
  const { id: invoiceId, number, orderId, userId, total, issuedAt: createdAt } = invoice;
  await ctx.publish(
    InvoiceCreatedSchema,
    { invoiceId, number, orderId, userId, total, createdAt },
    { id: invoiceId },
  );
}
