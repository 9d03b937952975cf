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
import type { NatsConnection } from "@nats-io/nats-core";
import { InvoiceCounterSchema } from "../../proto/gen/shop/billing/state/v1/billing_state_pb.ts";
import { type Invoice, InvoiceSchema } from "../../proto/gen/shop/v1/billing_pb.ts";
import { openStateStore, stateKeyOf } from "../../runtime/mod.ts";

const COUNTER_KEY = "last";

export interface InvoiceStore {
  /** The invoice of an order, or undefined. */
  ofOrder(orderId: string): Promise<Invoice | undefined>;
  /**
   * Stores the invoice `make(number)` builds for its order with the next number, unless the
   * order has one (then that one stays). Returns the order's invoice as stored.
   */
  issue(orderId: string, make: (number: bigint) => Invoice): Promise<Invoice>;
}

export interface InvoiceStoreOptions {
  /** Prefixes the bucket names, as it prefixes the actor's subjects. */
  readonly namespace: string;
}

export const defaultInvoiceStoreOptions: InvoiceStoreOptions = { namespace: "" };

export async function openInvoiceStore(
  nc: NatsConnection,
  partial: Partial<InvoiceStoreOptions> = {},
): Promise<InvoiceStore> {
  const { namespace } = { ...defaultInvoiceStoreOptions, ...partial };
  const [invoices, numbers] = await Promise.all([
    openStateStore(nc, { bucket: "invoices", namespace, schema: InvoiceSchema }),
    openStateStore(nc, { bucket: "invoice_numbers", namespace, schema: InvoiceCounterSchema }),
  ]);

  return {
    async ofOrder(orderId) {
      return (await invoices.get(stateKeyOf(orderId)))?.value;
    },

    async issue(orderId, make) {
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
