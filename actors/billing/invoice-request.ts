/**
 * Prices a CreateInvoice request's lines: every line total is unit price × quantity, the invoice
 * total their sum, all in one currency. What the request must be (an order, at least one line,
 * each with a quantity and a price that is not negative, one currency) is billing.proto's rules,
 * checked before the handler runs; the user it names is checked here (`invalid_argument`).
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

export function checkCreateInvoice(request: CreateInvoiceRequest): PricedInvoice {
  if (request.userId === "") throw new ConnectError("user_id is required", Code.InvalidArgument);
  const currency = request.lines[0]?.unitPrice?.currency ?? "";
  let sum = 0n;
  const lines = request.lines.map(({ description, productId, quantity, unitPrice }) => {
    const lineTotal = (unitPrice?.amountMinor ?? 0n) * quantity;
    sum += lineTotal;
    return create(InvoiceLineSchema, {
      description,
      productId,
      quantity,
      unitPrice,
      lineTotal: { amountMinor: lineTotal, currency },
    });
  });
  return { lines, total: create(MoneySchema, { amountMinor: sum, currency }) };
}
