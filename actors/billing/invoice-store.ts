/**
 * The billing actor's invoices, in JetStream KV buckets every instance shares:
 *
 *   invoices         order id (stateKeyOf) → Invoice: one invoice per order
 *   invoice_numbers  `last` → InvoiceCounter: the last invoice number handed out
 *
 * Issuing takes the next number with a conditional update of the counter, then claims the
 * order's key with the numbered invoice (first writer wins). The counter remembers the order its
 * last number went to, so a retry for that order after a crash between the two steps takes the
 * same number again. Numbers stay gap-free unless two attempts for one order race while another
 * order is numbered between them (the loser's number is then skipped); the invoice per order is
 * unique in every case.
 */
import type { ActorContext } from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import { InvoiceCounterSchema } from "../../proto/gen/shop/billing/state/v1/billing_state_pb.ts";
import { type Invoice, InvoiceSchema } from "../../proto/gen/shop/v1/billing_pb.ts";

const COUNTER_KEY = "last";

export type InvoiceStore = Awaited<ReturnType<typeof openInvoiceStore>>;

export async function openInvoiceStore(ctx: Pick<ActorContext, "state">) {
  const [invoices, numbers] = await Promise.all([
    ctx.state("invoices", InvoiceSchema),
    ctx.state("invoice_numbers", InvoiceCounterSchema),
  ]);
  return {
    /** The invoice of an order, or undefined. */
    ofOrder: async (orderId: string) => (await invoices.get(stateKeyOf(orderId)))?.value,

    /**
     * Stores the invoice `make(number)` builds for its order with the next number, unless the
     * order has one (then that one stays). Returns the order's invoice as stored.
     */
    async issue(orderId: string, make: (number: bigint) => Invoice): Promise<Invoice> {
      const key = stateKeyOf(orderId);
      const existing = await invoices.get(key);
      if (existing !== undefined) return existing.value;
      const counter = await numbers.update(COUNTER_KEY, (current) =>
        current?.lastOrderId === orderId
          ? undefined // this order's earlier attempt was numbered: keep its number
          : { lastNumber: (current?.lastNumber ?? 0n) + 1n, lastOrderId: orderId },
      );
      if (counter === undefined) throw new Error("invoice counter missing after update");
      return invoices.claim(key, make(counter.value.lastNumber));
    },
  };
}
