/**
 * Checks a CreateInvoice request and prices its lines: every line total is unit price ×
 * quantity, the invoice total their sum, all in one currency. Bad input is `invalid_argument`
 * naming the field.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CreateInvoiceRequest, InvoiceLine } from "../../proto/gen/shop/v1/billing_pb.ts";
import { InvoiceLineSchema } from "../../proto/gen/shop/v1/billing_pb.ts";
import { type Money, MoneySchema } from "../../proto/gen/shop/v1/money_pb.ts";

export interface PricedInvoice {
  readonly lines: InvoiceLine[];
  readonly total: Money;
}

const CURRENCY = /^[A-Z]{3}$/;

export function checkCreateInvoice(request: CreateInvoiceRequest): PricedInvoice {
  const invalid = (message: string) => new ConnectError(message, Code.InvalidArgument);
  if (request.orderId === "") throw invalid("order_id is required");
  if (request.userId === "") throw invalid("user_id is required");
  if (request.lines.length === 0) throw invalid("an invoice needs at least one line");
  let currency: string | undefined;
  let sum = 0n;
  const lines = request.lines.map((line, i) => {
    const at = `lines[${i}]`;
    if (line.quantity < 1n) throw invalid(`${at}.quantity must be at least 1`);
    const price = line.unitPrice;
    if (price === undefined || !CURRENCY.test(price.currency)) {
      throw invalid(`${at}.unit_price needs an amount and an ISO 4217 currency`);
    }
    if (price.amountMinor < 0n) throw invalid(`${at}.unit_price must not be negative`);
    currency ??= price.currency;
    if (price.currency !== currency)
      throw invalid(`${at} is in ${price.currency}, the invoice in ${currency}`);
    const lineTotal = price.amountMinor * line.quantity;
    sum += lineTotal;
    return create(InvoiceLineSchema, {
      description: line.description,
      productId: line.productId,
      quantity: line.quantity,
      unitPrice: price,
      lineTotal: { amountMinor: lineTotal, currency },
    });
  });
  return { lines, total: create(MoneySchema, { amountMinor: sum, currency: currency ?? "" }) };
}
