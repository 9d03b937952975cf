/**
 * The checks of what the payment actor is asked to do that payment.proto's rules do not already
 * make (the host checks those before the handler runs): every failure of the caller's making is
 * `invalid_argument` naming the field; the same idempotency key reused for another charge is
 * `failed_precondition`, as shop/v1/payment.proto says.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Money } from "../../proto/gen/shop/v1/money_pb.ts";
import type { ChargeRequest, Payment, RefundRequest } from "../../proto/gen/shop/v1/payment_pb.ts";
import { sameMoney } from "./money.ts";

const MAX_KEY_LENGTH = 100;

/** A Charge request, checked: its amount is there (payment.proto requires it). */
export type CheckedCharge = ChargeRequest & { readonly amount: Money };

export function checkCharge(request: ChargeRequest): CheckedCharge {
  const { amount } = request;
  if (amount === undefined) throw invalidArgument("amount is required");
  return { ...request, userId: checkText(request.userId, "user_id"), amount };
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

/** A Refund request as payment.proto's rules let it in; `amount` undefined means everything not yet refunded. */
export type CheckedRefund = RefundRequest;

function checkText(value: string, field: string): string {
  if (value === "") throw invalidArgument(`${field} is required`);
  if (value.length > MAX_KEY_LENGTH) {
    throw invalidArgument(`${field} must be at most ${MAX_KEY_LENGTH} characters`);
  }
  return value;
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
