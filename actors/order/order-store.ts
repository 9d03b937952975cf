/**
 * The order actor's orders, in JetStream KV buckets that every instance shares:
 *
 *   orders          order id → Order (its current state)
 *   order_requests  PlaceOrder idempotency key (stateKeyOf) → Order as first placed
 *
 * Placing claims the idempotency key with a create-only put of the new order, then writes the
 * order under its id, also create-only: of two concurrent calls with one key, one order wins and
 * both answer with it, and a retry after a crash between the two writes completes the second.
 * Later changes of an order (paid, cancelled) are conditional writes of its record (`update`).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type Order, OrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { isStateKey, openStateStore, stateKeyOf } from "../../runtime/mod.ts";

export interface OrderStore {
  /** The order with this id, or undefined. */
  get(id: string): Promise<Order | undefined>;
  /** The order first placed with this idempotency key, or undefined. */
  placedWith(idempotencyKey: string): Promise<Order | undefined>;
  /**
   * Stores `order` as the one placed with `idempotencyKey`, unless another order was (then that
   * one stays), and makes sure that order is stored under its id. Returns it as stored there.
   */
  place(idempotencyKey: string, order: Order): Promise<Order>;
  /**
   * Read-modify-write of one order (StateStore.update): `fn` returns the new order, or undefined
   * to leave it as it is. Returns the order as it then stands, undefined if there is none.
   */
  update(id: string, fn: (current: Order) => Order | undefined): Promise<Order | undefined>;
}

export interface OrderStoreOptions {
  /** Prefixes the bucket names, as it prefixes the actor's subjects. */
  readonly namespace: string;
}

export const defaultOrderStoreOptions: OrderStoreOptions = { namespace: "" };

export async function openOrderStore(
  nc: NatsConnection,
  partial: Partial<OrderStoreOptions> = {},
): Promise<OrderStore> {
  const { namespace } = { ...defaultOrderStoreOptions, ...partial };
  const open = (bucket: string) => openStateStore(nc, { bucket, namespace, schema: OrderSchema });
  const [byId, byKey] = await Promise.all([open("orders"), open("order_requests")]);

  return {
    async get(id) {
      // An id that cannot be a key was never handed out.
      return isStateKey(id) ? (await byId.get(id))?.value : undefined;
    },

    async placedWith(idempotencyKey) {
      return (await byKey.get(stateKeyOf(idempotencyKey)))?.value;
    },

    async place(idempotencyKey, order) {
      const first = await byKey.claim(stateKeyOf(idempotencyKey), order);
      return byId.claim(first.id, first);
    },

    async update(id, fn) {
      if (!isStateKey(id)) return undefined;
      return (await byId.update(id, (current) => (current === undefined ? undefined : fn(current))))?.value;
    },
  };
}
