/**
 * The checks of what the payment actor is asked to do: every failure of the caller's making is
 * `invalid_argument` naming the field; the same idempotency key reused for another charge is
 * `failed_precondition`, as shop/v1/payment.proto says.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Money } from "../../proto/gen/shop/v1/money_pb.ts";
import type { ChargeRequest, Payment, RefundRequest } from "../../proto/gen/shop/v1/payment_pb.ts";
import { checkPositiveMoney, sameMoney } from "./money.ts";

const MAX_KEY_LENGTH = 100;
const MAX_DESCRIPTION_LENGTH = 200;
const MAX_REASON_LENGTH = 500;

/** A Charge request, checked. */
export interface CheckedCharge {
  readonly idempotencyKey: string;
  readonly orderId: string;
  readonly userId: string;
  readonly amount: Money;
  readonly paymentMethodToken: string;
  readonly description: string;
}

export function checkCharge(request: ChargeRequest): CheckedCharge {
  const description = request.description;
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw invalidArgument(`description must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  }
  return {
    idempotencyKey: checkText(request.idempotencyKey, "idempotency_key"),
    orderId: checkText(request.orderId, "order_id"),
    userId: checkText(request.userId, "user_id"),
    amount: checkPositiveMoney(request.amount, "amount"),
    paymentMethodToken: checkText(request.paymentMethodToken, "payment_method_token"),
    description,
  };
}

/** Throws `failed_precondition` unless `payment` is what `charge` asks for (a retry of the same charge). */
export function checkSameCharge(payment: Payment, charge: CheckedCharge): void {
  if (
    payment.orderId !== charge.orderId ||
    payment.userId !== charge.userId ||
    !sameMoney(payment.amount, charge.amount)
  ) {
    throw new ConnectError(
      `idempotency_key "${charge.idempotencyKey}" was already used for another charge (payment ${payment.id})`,
      Code.FailedPrecondition,
    );
  }
}

/** A Refund request, checked; `amount` undefined means everything not yet refunded. */
export interface CheckedRefund {
  readonly paymentId: string;
  readonly idempotencyKey: string;
  readonly amount: Money | undefined;
  readonly reason: string;
}

export function checkRefund(request: RefundRequest): CheckedRefund {
  if (request.reason.length > MAX_REASON_LENGTH) {
    throw invalidArgument(`reason must be at most ${MAX_REASON_LENGTH} characters`);
  }
  return {
    paymentId: checkText(request.paymentId, "payment_id"),
    idempotencyKey: checkText(request.idempotencyKey, "idempotency_key"),
    amount: request.amount === undefined ? undefined : checkPositiveMoney(request.amount, "amount"),
    reason: request.reason,
  };
}

export function checkText(value: string, field: string): string {
  if (value === "") throw invalidArgument(`${field} is required`);
  if (value.length > MAX_KEY_LENGTH) {
    throw invalidArgument(`${field} must be at most ${MAX_KEY_LENGTH} characters`);
  }
  return value;
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
