/**
 * The inventory actor as a process that stops for good in the middle of handling OrderPlaced,
 * for tests/integration/shop-order-inventory-crash.test.ts, which SIGKILLs it there. Runs
 * `createInventoryActor` with `runActor` (so it logs "actor ready" like actors/inventory/main.ts)
 * and a checkpoint hook that never returns at the places ORDER_INVENTORY_PAUSES names, a JSON
 * array of {"orderId", "point", "productId"?}:
 *
 *   point "written" stops right after the write of the order's sale of `productId` (before the
 *   adjustment is indexed); any other point stops there for the order (and the product, if named).
 *
 * Each stop prints {"msg":"paused <order id>", "point", …}. ORDER_INVENTORY_ACK_WAIT_MS sets the
 * OrderPlaced consumer's ack wait (the test's surviving instance must use the same).
 */
import {
  type CheckpointAt,
  createInventoryActor,
  type InventoryCheckpoint,
} from "../../actors/inventory/actor.ts";
import { saleAdjustmentId } from "../../actors/inventory/reservations.ts";
import { runActor } from "../../runtime/mod.ts";

interface Pause {
  readonly orderId: string;
  readonly point: InventoryCheckpoint;
  readonly productId?: string;
}

const pauses = JSON.parse(process.env.ORDER_INVENTORY_PAUSES ?? "[]") as Pause[];
const ackWaitMs = Number(process.env.ORDER_INVENTORY_ACK_WAIT_MS ?? 1_000);

const matches = (pause: Pause, point: InventoryCheckpoint, at: CheckpointAt) => {
  if (pause.point !== point) return false;
  if (point === "written") return at.adjustmentId === saleAdjustmentId(pause.orderId, pause.productId ?? "");
  return pause.orderId === at.orderId && (pause.productId === undefined || pause.productId === at.productId);
};

await runActor(
  createInventoryActor({
    orderPlaced: { ackWaitMs, concurrency: 64 },
    checkpoint(point, at) {
      const pause = pauses.find((p) => matches(p, point, at));
      if (pause === undefined) return;
      console.log(JSON.stringify({ msg: `paused ${pause.orderId}`, point, ...at }));
      return new Promise<never>(() => {}); // the process is killed here
    },
  }),
);
