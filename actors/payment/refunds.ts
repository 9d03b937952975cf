/**
 * How a Refund changes a payment's record, decided from the record alone (so it can run inside
 * a conditional read-modify-write and be decided again when another writer won):
 *
 * - a refund with the same idempotency key is found in the record: that refund is the answer and
 *   nothing changes (its amount must match, if the retry names one: else `failed_precondition`);
 * - a payment that was declined or is fully refunded cannot be refunded: `failed_precondition`;
 * - the amount defaults to what is left; another currency than the payment's is
 *   `invalid_argument`; more than what is left is `failed_precondition`;
 * - else the refund is appended, refunded_amount grows by it (exact minor-unit arithmetic) and
 *   the status becomes PARTIALLY_REFUNDED or REFUNDED.
 */
import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type PaymentRecord,
  PaymentRecordSchema,
  type RefundRecord,
  RefundRecordSchema,
} from "../../proto/gen/shop/payment/state/v1/payment_state_pb.ts";
import { PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import { addMoney, sameMoney, subtractMoney, zeroMoney } from "./money.ts";
import type { CheckedRefund } from "./payment-requests.ts";

/** The refund that answers the call, and the record to write (undefined: nothing to write). */
export interface RefundPlan {
  readonly refund: RefundRecord;
  readonly next: PaymentRecord | undefined;
}

const REFUNDABLE: ReadonlySet<PaymentStatus> = new Set([
  PaymentStatus.CAPTURED,
  PaymentStatus.PARTIALLY_REFUNDED,
]);

export function planRefund(
  record: PaymentRecord,
  request: CheckedRefund,
  refundId: string,
  now: Timestamp,
): RefundPlan {
  const { payment } = record;
  if (payment?.amount === undefined) {
    throw new ConnectError(`payment ${request.paymentId} has no amount`, Code.Internal);
  }
  const earlier = record.refunds.find((r) => r.idempotencyKey === request.idempotencyKey);
  if (earlier !== undefined) {
    if (request.amount !== undefined && !sameMoney(request.amount, earlier.amount)) {
      throw new ConnectError(
        `idempotency_key "${request.idempotencyKey}" was already used for a refund of another amount`,
        Code.FailedPrecondition,
      );
    }
    return { refund: earlier, next: undefined };
  }
  if (!REFUNDABLE.has(payment.status)) {
    throw new ConnectError(
      `payment ${payment.id} is ${statusName(payment.status)}: only a captured payment can be refunded`,
      Code.FailedPrecondition,
    );
  }
  const charged = payment.amount;
  const refunded = payment.refundedAmount ?? zeroMoney(charged.currency);
  const left = subtractMoney(charged, refunded);
  const amount = request.amount ?? left;
  if (amount.currency !== charged.currency) {
    throw new ConnectError(
      `amount.currency must be the payment's currency ${charged.currency}, got ${amount.currency}`,
      Code.InvalidArgument,
    );
  }
  if (amount.amountMinor > left.amountMinor) {
    throw new ConnectError(
      `payment ${payment.id} has ${left.amountMinor} ${left.currency} minor units left to refund, ` +
        `not ${amount.amountMinor}`,
      Code.FailedPrecondition,
    );
  }
  const refundedTotal = addMoney(refunded, amount);
  const refund = create(RefundRecordSchema, {
    refundId,
    idempotencyKey: request.idempotencyKey,
    amount,
    refundedTotal,
    reason: request.reason,
    refundedAt: now,
  });
  const next = create(PaymentRecordSchema, {
    payment: {
      ...payment,
      refundedAmount: refundedTotal,
      status:
        refundedTotal.amountMinor === charged.amountMinor
          ? PaymentStatus.REFUNDED
          : PaymentStatus.PARTIALLY_REFUNDED,
      updatedAt: now,
    },
    refunds: [...record.refunds, refund],
  });
  return { refund, next };
}

function statusName(status: PaymentStatus): string {
  return Object.entries(PaymentStatus).find(([, value]) => value === status)?.[0] ?? String(status);
}
