/**
 * The order actor as a process that stops for good in the middle of its orders, for
 * tests/integration/shop-order-crash.test.ts, which SIGKILLs it there. Runs `createOrderActor`
 * with `runActor` (so it logs "actor ready" like actors/order/main.ts), observed from outside
 * (order-steps.ts), and never goes past the steps that ORDER_PAUSES names, a JSON array of
 * {"productId", "step"}: a pause stops the order that reserved that product at that step or any
 * later one (the worker learns each order's products at its `reserved` step), so neither its
 * PlaceOrder nor the PaymentCaptured consumer of this process gets further.
 *
 * Each stop prints {"msg":"paused <product id>", "step", "orderId"}.
 */
import { runActor } from "troupe";
import { createOrderActor } from "../../actors/order/actor.ts";
import { type OrderStep, observeOrderSteps } from "./order-steps.ts";

interface Pause {
  readonly productId: string;
  readonly step: OrderStep["step"];
}

const pauses = JSON.parse(process.env.ORDER_PAUSES ?? "[]") as Pause[];
/** The order in which an order's steps come. */
const RANK: Record<OrderStep["step"], number> = {
  reserved: 0,
  charging: 1,
  charged: 2,
  sold: 3,
  released: 3,
  refunded: 3,
  announced: 4,
};
const productsOf = new Map<string, readonly string[]>();

await runActor(
  observeOrderSteps(createOrderActor(), ({ step, orderId, productIds }) => {
    if (productIds !== undefined) productsOf.set(orderId, productIds);
    const pause = pauses.find(
      (p) => RANK[step] >= RANK[p.step] && productsOf.get(orderId)?.includes(p.productId),
    );
    if (pause === undefined) return;
    console.log(JSON.stringify({ msg: `paused ${pause.productId}`, step, orderId }));
    return new Promise<never>(() => {}); // the process is killed here
  }),
);
