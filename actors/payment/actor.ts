/**
 * The payment actor: charges and refunds (shop.v1.PaymentService) against a payment provider
 * (provider.ts; the example's is simulated and deterministic), with every payment kept in
 * JetStream KV buckets that every instance shares (payment-store.ts).
 *
 * Charge is idempotent per idempotency key: the first attempt asks the provider (with that key)
 * and claims the key with the new payment; every later attempt, or a concurrent one that lost
 * the claim, answers with the payment that won. The same key with another order, user or
 * amount is `failed_precondition`. A decline is a DECLINED payment, not an error. A captured
 * payment is announced with PaymentCaptured, message id = payment id, after it was stored: a
 * retry publishes it again and the stream's duplicate window drops the copy.
 *
 * Refund is idempotent per payment and idempotency key: the refund and its key are one
 * conditional write of the payment's record (refunds.ts), then PaymentRefunded is published
 * with the refund id as message id (again by every retry). Partial refunds add up exactly (integer
 * minor units); more than is left is `failed_precondition`.
 *
 * Not yet: "only the customer who paid" (payment.proto) needs the caller's identity, which the
 * gateway does not forward yet; today every caller that reaches the actor may refund and read.
 *
 * `actors/payment/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Payment,
  PaymentCapturedSchema,
  PaymentRefundedSchema,
  PaymentSchema,
  PaymentService,
  PaymentStatus,
} from "../../proto/gen/shop/v1/payment_pb.ts";
import { type ActorContext, type ActorDefinition, defineActor, implement } from "../../runtime/mod.ts";
import { zeroMoney } from "./money.ts";
import { checkCharge, checkRefund, checkSameCharge, checkText } from "./payment-requests.ts";
import { openPaymentStore, type PaymentStore } from "./payment-store.ts";
import { type PaymentProvider, simulatedProvider } from "./provider.ts";
import { planRefund, type RefundPlan } from "./refunds.ts";

export interface PaymentActorOptions {
  /** Opens the payments of one instance (once per instance, when it starts). */
  readonly store: (ctx: ActorContext) => Promise<PaymentStore>;
  /** Takes the money; the simulated provider by default. */
  readonly provider: PaymentProvider;
  /** Makes the id of a new payment or refund; ids must be KV keys and subject tokens (no dots). */
  readonly newId: (kind: "payment" | "refund") => string;
}

export const defaultPaymentActorOptions: PaymentActorOptions = {
  store: (ctx) => openPaymentStore(ctx.nc, { namespace: ctx.namespace }),
  provider: simulatedProvider,
  newId: (kind) => `${kind === "payment" ? "pay" : "rf"}-${crypto.randomUUID()}`,
};

/** The payment actor with some options changed (tests, demos). */
export function createPaymentActor(
  partial: Partial<PaymentActorOptions> = {},
): ActorDefinition<PaymentStore> {
  const options: PaymentActorOptions = { ...defaultPaymentActorOptions, ...partial };
  return defineActor<PaymentStore>({
    name: "payment",
    version: "1.0.0",
    description: "Charges and refunds through the payment provider; announces captures and refunds.",
    publishes: { events: [PaymentCapturedSchema, PaymentRefundedSchema] },
    setup: (ctx) => options.store(ctx),

    services(ctx, payments) {
      /** Publishes the capture of a stored payment; the payment id is the message id, so repeats are dropped. */
      const announceCapture = async (payment: Payment) => {
        await ctx.publish(
          PaymentCapturedSchema,
          {
            paymentId: payment.id,
            orderId: payment.orderId,
            userId: payment.userId,
            ...(payment.amount === undefined ? {} : { amount: payment.amount }),
            ...(payment.capturedAt === undefined ? {} : { capturedAt: payment.capturedAt }),
          },
          { id: payment.id },
        );
      };

      return [
        implement(PaymentService, {
          async charge(request) {
            const charge = checkCharge(request);
            let payment = await payments.chargedWith(charge.idempotencyKey);
            if (payment === undefined) {
              const outcome = await options.provider.charge(charge);
              const now = timestampNow();
              payment = create(PaymentSchema, {
                id: options.newId("payment"),
                orderId: charge.orderId,
                userId: charge.userId,
                amount: charge.amount,
                refundedAmount: zeroMoney(charge.amount.currency),
                createdAt: now,
                updatedAt: now,
                ...(outcome.captured
                  ? {
                      status: PaymentStatus.CAPTURED,
                      providerReference: outcome.providerReference,
                      capturedAt: now,
                    }
                  : { status: PaymentStatus.DECLINED, declineReason: outcome.declineReason }),
              });
            }
            // A concurrent attempt with the same key may have stored its payment first: that one counts.
            const stored = (await payments.record(charge.idempotencyKey, payment)).payment;
            if (stored === undefined) throw new ConnectError("stored payment is empty", Code.Internal);
            checkSameCharge(stored, charge);
            if (stored.status !== PaymentStatus.DECLINED) await announceCapture(stored);
            return { payment: stored };
          },

          async refund(request) {
            const refund = checkRefund(request);
            const refundId = options.newId("refund");
            const now = timestampNow();
            let plan: RefundPlan | undefined;
            const record = await payments.update(refund.paymentId, (current) => {
              plan = planRefund(current, refund, refundId, now);
              return plan.next;
            });
            const payment = record?.payment;
            if (payment === undefined || plan === undefined) throw notFound(refund.paymentId);
            const { refundId: id, amount, refundedTotal, reason, refundedAt } = plan.refund;
            await ctx.publish(
              PaymentRefundedSchema,
              {
                paymentId: payment.id,
                refundId: id,
                orderId: payment.orderId,
                userId: payment.userId,
                ...(amount === undefined ? {} : { amount }),
                ...(refundedTotal === undefined ? {} : { refundedTotal }),
                fullyRefunded: refundedTotal?.amountMinor === payment.amount?.amountMinor,
                reason,
                ...(refundedAt === undefined ? {} : { refundedAt }),
              },
              { id },
            );
            return { payment, refundId: id, ...(amount === undefined ? {} : { refunded: amount }) };
          },

          async getPayment(request) {
            const id = checkText(request.id, "id");
            const payment = (await payments.get(id))?.payment;
            if (payment === undefined) throw notFound(id);
            return { payment };
          },
        }),
      ];
    },
  });
}

/** The payment actor as `actors/payment/main.ts` runs it. */
export const paymentActor: ActorDefinition<PaymentStore> = createPaymentActor();

function notFound(id: string): ConnectError {
  return new ConnectError(`payment "${id}" not found`, Code.NotFound);
}
