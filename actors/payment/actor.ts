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
 * Through the gateway only the customer who paid may refund or read a payment (payment.proto):
 * for a caller with another identity the payment does not exist (`not_found`). Calls from inside
 * the shop (the order actor refunding a cancelled order) carry no identity and may.
 *
 * `actors/payment/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { defineActor, implement } from "troupe";
import { callerIdentity } from "troupe/host";
import {
  type Payment,
  PaymentCapturedSchema,
  PaymentRefundedSchema,
  PaymentSchema,
  PaymentService,
  PaymentStatus,
} from "../../proto/gen/shop/v1/payment_pb.ts";
import { zeroMoney } from "./money.ts";
import { checkCharge, checkSameCharge } from "./payment-requests.ts";
import { openPaymentStore } from "./payment-store.ts";
import { type PaymentProvider, simulatedProvider } from "./provider.ts";
import { planRefund, type RefundPlan } from "./refunds.ts";

export interface PaymentActorOptions {
  /** Takes the money; the simulated provider by default. */
  readonly provider: PaymentProvider;
  /** Makes the id of a new payment or refund; ids must be KV keys and subject tokens (no dots). */
  readonly newId: (kind: "payment" | "refund") => string;
}

export const defaultPaymentActorOptions: PaymentActorOptions = {
  provider: simulatedProvider,
  newId: (kind) => `${kind === "payment" ? "pay" : "rf"}-${crypto.randomUUID()}`,
};

/** The payment actor with some options changed (tests, demos). */
export function createPaymentActor(partial: Partial<PaymentActorOptions> = {}) {
  const options: PaymentActorOptions = { ...defaultPaymentActorOptions, ...partial };
  return defineActor({
    name: "payment",
    version: "1.0.0",
    description: "Charges and refunds through the payment provider; announces captures and refunds.",
    serves: [PaymentService],
    // Billing calls GetPayment by address after discovery (docs/adr/0031-direct-calls-by-address.md).
    direct: true,
    publishes: { events: [PaymentCapturedSchema, PaymentRefundedSchema] },
    state: ["payments", "payment_charges"],
    setup: (ctx) => openPaymentStore(ctx),

    services(ctx, payments) {
      /** Publishes the capture of a stored payment; the payment id is the message id, so repeats are dropped. */
      const announceCapture = async ({ id: paymentId, orderId, userId, amount, capturedAt }: Payment) => {
        await ctx.publish(
          PaymentCapturedSchema,
          { paymentId, orderId, userId, amount, capturedAt },
          { id: paymentId },
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

          async refund(request, context) {
            const refund = request;
            const caller = callerIdentity(context)?.subject;
            const refundId = options.newId("refund");
            const now = timestampNow();
            let plan: RefundPlan | undefined;
            const record = await payments.update(refund.paymentId, (current) => {
              if (caller !== undefined && current.payment?.userId !== caller)
                throw notFound(refund.paymentId);
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
                amount,
                refundedTotal,
                fullyRefunded: refundedTotal?.amountMinor === payment.amount?.amountMinor,
                reason,
                refundedAt,
              },
              { id },
            );
            return { payment, refundId: id, refunded: amount };
          },

          async getPayment(request, context) {
            const { id } = request;
            const payment = (await payments.get(id))?.payment;
            const caller = callerIdentity(context)?.subject;
            if (payment === undefined || (caller !== undefined && payment.userId !== caller))
              throw notFound(id);
            return { payment };
          },
        }),
      ];
    },
  });
}

/** The payment actor as `actors/payment/main.ts` runs it. */
export const paymentActor = createPaymentActor();

function notFound(id: string): ConnectError {
  return new ConnectError(`payment "${id}" not found`, Code.NotFound);
}
