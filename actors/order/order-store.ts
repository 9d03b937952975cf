/**
 * The order actor's orders, in JetStream KV buckets that every instance shares:
 *
 *   orders          order id → Order (its current state)
 *   order_requests  PlaceOrder idempotency key (stateKeyOf) → Order as first placed
 *   order_pending   order id → Order as first placed, for every order not settled yet
 *
 * Placing writes the new order into `order_pending`, then claims the idempotency key with a
 * create-only put of the order, then writes the order under its id, also create-only: of two
 * concurrent calls with one key, one order wins and both answer with it, and a retry after a
 * crash between the writes completes them. Because the pending entry comes first, every order
 * that exists is found by the pending sweep until it is settled (PAID or CANCELLED and
 * announced), however its call ended; an entry whose order never came to exist (its call died
 * before the claim, or lost it) is dropped by the sweep. Later changes of an order are
 * conditional writes of its record (`update`).
 */
import type { ActorContext } from "troupe";
import { isStateKey, stateKeyOf } from "troupe/jetstream";
import { type Order, OrderSchema, OrderStatus } from "../../proto/gen/shop/v1/order_pb.ts";

export type OrderStore = Awaited<ReturnType<typeof openOrderStore>>;

export async function openOrderStore(ctx: Pick<ActorContext, "state">) {
  const [byId, byKey, pending] = await Promise.all([
    ctx.state("orders", OrderSchema),
    ctx.state("order_requests", OrderSchema),
    ctx.state("order_pending", OrderSchema),
  ]);
  return {
    /** The order with this id, or undefined (an id that cannot be a key was never handed out). */
    get: async (id: string) => (isStateKey(id) ? (await byId.get(id))?.value : undefined),

    /** The order first placed with this idempotency key, or undefined. */
    placedWith: async (idempotencyKey: string) => (await byKey.get(stateKeyOf(idempotencyKey)))?.value,

    /**
     * Stores `order` as the one placed with `idempotencyKey`, unless another order was (then that
     * one stays), and makes sure that order is stored under its id. Returns it as stored there.
     */
    async place(idempotencyKey: string, order: Order): Promise<Order> {
      await pending.put(order.id, order);
      const first = await byKey.claim(stateKeyOf(idempotencyKey), order);
      if (first.id !== order.id) await pending.forget(order.id); // this order never exists
      return byId.claim(first.id, first);
    },

    /**
     * Completes what `place` did for an order found by its key (a call that died half-way), the
     * pending entry included: the sweep drops the entry of an order it cannot find by id, which
     * is what such an order looks like. Returns the order as it now stands.
     */
    async complete(order: Order): Promise<Order> {
      const current = (await byId.get(order.id))?.value;
      if (current !== undefined && current.status !== OrderStatus.PENDING) return current;
      await pending.put(order.id, order);
      return byId.claim(order.id, order);
    },

    /**
     * Read-modify-write of one order (StateStore.update): `fn` returns the new order, or undefined
     * to leave it as it is. Returns the order as it then stands, undefined if there is none.
     */
    async update(id: string, fn: (current: Order) => Order | undefined): Promise<Order | undefined> {
      if (!isStateKey(id)) return undefined;
      return (await byId.update(id, (current) => current && fn(current)))?.value;
    },

    /** The ids of the orders not settled yet (and of placings that never came to be), with when each was placed. */
    async pending(): Promise<{ id: string; placed: Order }[]> {
      const entries = await Promise.all((await pending.keys()).map((key) => pending.get(key)));
      return entries.flatMap((entry) =>
        entry === undefined ? [] : [{ id: entry.key, placed: entry.value }],
      );
    },

    /** False once the order is settled and announced. */
    isPending: async (id: string) => (await pending.get(id)) !== undefined,

    /** The order is settled and announced: the sweep need not look at it again. */
    settled: (id: string) => pending.forget(id),
  };
}
