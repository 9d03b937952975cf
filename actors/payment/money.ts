/**
 * Money as shop/v1/money.proto defines it: an int64 count of minor units (a bigint here) and an
 * ISO 4217 code. All arithmetic is on the bigint, so sums and differences are exact; amounts in
 * different currencies are never added or compared. What a request's Money must be (an ISO 4217
 * code, a positive amount where payment.proto says so) is the contract's rules, checked by the host.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Money, MoneySchema } from "../../proto/gen/shop/v1/money_pb.ts";

/** Zero in `currency`. */
export function zeroMoney(currency: string): Money {
  return create(MoneySchema, { amountMinor: 0n, currency });
}

/** a + b; both must be in one currency (checked by the caller, asserted here). */
export function addMoney(a: Money, b: Money): Money {
  assertSameCurrency(a, b);
  return create(MoneySchema, { amountMinor: a.amountMinor + b.amountMinor, currency: a.currency });
}

/** a - b; both must be in one currency (checked by the caller, asserted here). */
export function subtractMoney(a: Money, b: Money): Money {
  assertSameCurrency(a, b);
  return create(MoneySchema, { amountMinor: a.amountMinor - b.amountMinor, currency: a.currency });
}

/** True when both are the same amount in the same currency. */
export function sameMoney(a: Money | undefined, b: Money | undefined): boolean {
  return a?.currency === b?.currency && a?.amountMinor === b?.amountMinor;
}

function assertSameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency) {
    throw new ConnectError(`cannot mix ${a.currency} and ${b.currency}`, Code.Internal);
  }
}
