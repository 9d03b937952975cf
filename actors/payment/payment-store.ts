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
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type PaymentRecord,
  PaymentRecordSchema,
} from "../../proto/gen/shop/payment/state/v1/payment_state_pb.ts";
import { type Payment, PaymentSchema } from "../../proto/gen/shop/v1/payment_pb.ts";
import { isStateKey, openStateStore, stateKeyOf } from "../../runtime/mod.ts";

export interface PaymentStore {
  /** The payment with this id and its refunds, or undefined. */
  get(id: string): Promise<PaymentRecord | undefined>;
  /** The payment first charged with this idempotency key, or undefined. */
  chargedWith(idempotencyKey: string): Promise<Payment | undefined>;
  /**
   * Stores `payment` as the one charged with `idempotencyKey`, unless another payment was (then
   * that one stays), and makes sure that payment is stored under its id. Returns its record as
   * it stands (a later refund may have changed it).
   */
  record(idempotencyKey: string, payment: Payment): Promise<PaymentRecord>;
  /** Read-modify-write of one payment's record (see StateStore.update); undefined if it does not exist. */
  update(
    id: string,
    fn: (current: PaymentRecord) => PaymentRecord | undefined,
  ): Promise<PaymentRecord | undefined>;
}

export interface PaymentStoreOptions {
  /** Prefixes the bucket names, as it prefixes the actor's subjects. */
  readonly namespace: string;
}

export const defaultPaymentStoreOptions: PaymentStoreOptions = { namespace: "" };

export async function openPaymentStore(
  nc: NatsConnection,
  partial: Partial<PaymentStoreOptions> = {},
): Promise<PaymentStore> {
  const { namespace } = { ...defaultPaymentStoreOptions, ...partial };
  const [byId, byKey] = await Promise.all([
    openStateStore(nc, { bucket: "payments", namespace, schema: PaymentRecordSchema }),
    openStateStore(nc, { bucket: "payment_charges", namespace, schema: PaymentSchema }),
  ]);

  return {
    async get(id) {
      // An id that cannot be a key was never handed out.
      return isStateKey(id) ? (await byId.get(id))?.value : undefined;
    },

    async chargedWith(idempotencyKey) {
      return (await byKey.get(stateKeyOf(idempotencyKey)))?.value;
    },

    async record(idempotencyKey, payment) {
      const first = await byKey.claim(stateKeyOf(idempotencyKey), payment);
      return byId.claim(first.id, create(PaymentRecordSchema, { payment: first }));
    },

    async update(id, fn) {
      if (!isStateKey(id)) return undefined;
      return (await byId.update(id, (current) => (current === undefined ? undefined : fn(current))))?.value;
    },
  };
}
