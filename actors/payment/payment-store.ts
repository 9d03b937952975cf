/**
 * The payment actor's payments, in JetStream KV buckets that every instance shares:
 *
 *   payments         payment id → PaymentRecord (the payment as it stands, with its refunds)
 *   payment_charges  Charge idempotency key (stateKeyOf) → the Payment as first charged
 *
 * A charge claims its idempotency key with a create-only put of the new payment, then writes the
 * payment under its id, also create-only: of two concurrent attempts with one key, one payment
 * wins and both answer with it, and a retry after a crash between the two writes completes the
 * second. A refund is one conditional write of the payment's record (refunds.ts), which holds
 * the refund's idempotency key too, so it takes effect once or not at all.
 */
import { create } from "@bufbuild/protobuf";
import type { ActorContext } from "troupe";
import { isStateKey, stateKeyOf } from "troupe/jetstream";
import {
  type PaymentRecord,
  PaymentRecordSchema,
} from "../../proto/gen/shop/payment/state/v1/payment_state_pb.ts";
import { type Payment, PaymentSchema } from "../../proto/gen/shop/v1/payment_pb.ts";

export type PaymentStore = Awaited<ReturnType<typeof openPaymentStore>>;

export async function openPaymentStore(ctx: Pick<ActorContext, "state">) {
  const [byId, byKey] = await Promise.all([
    ctx.state("payments", PaymentRecordSchema),
    ctx.state("payment_charges", PaymentSchema),
  ]);
  return {
    /** The payment with this id and its refunds, or undefined (an id that cannot be a key was never handed out). */
    get: async (id: string) => (isStateKey(id) ? (await byId.get(id))?.value : undefined),

    /** The payment first charged with this idempotency key, or undefined. */
    chargedWith: async (idempotencyKey: string) => (await byKey.get(stateKeyOf(idempotencyKey)))?.value,

    /**
     * Stores `payment` as the one charged with `idempotencyKey`, unless another payment was (then
     * that one stays), and makes sure that payment is stored under its id. Returns its record as
     * it stands (a later refund may have changed it).
     */
    async record(idempotencyKey: string, payment: Payment): Promise<PaymentRecord> {
      const first = await byKey.claim(stateKeyOf(idempotencyKey), payment);
      return byId.claim(first.id, create(PaymentRecordSchema, { payment: first }));
    },

    /** Read-modify-write of one payment's record (see StateStore.update); undefined if it does not exist. */
    async update(id: string, fn: (current: PaymentRecord) => PaymentRecord | undefined) {
      if (!isStateKey(id)) return undefined;
      return (await byId.update(id, (current) => current && fn(current)))?.value;
    },
  };
}
