/**
 * The order actor's saga observed from outside (actor-hooks.ts): each step it takes for an order
 * is reported to `step` once the other actor answered it, and the order actor waits for what
 * `step` returns before it goes on, so a test can hold it there, make the call die there (a
 * rejection: the step was done, the caller never hears of it), or a worker process stop there
 * for good and be killed.
 *
 *   reserved   ReserveStock answered (the reservation is held, or refused)
 *   charged    Charge answered (the payment is captured or declined, and PaymentCaptured published)
 *   sold       SellReservation answered (the stock is taken)
 *   released   ReleaseReservation answered
 *   refunded   Refund answered
 *   announced  OrderPlaced or OrderCancelled is stored
 *
 * `before` is called before the call is made (`charging` is the one tests use, to hold a charge
 * while the order is abandoned).
 */
import type { DescService } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import type { ActorDefinition } from "troupe";
import type { Publishes } from "troupe/jetstream";
import { currentCallScope } from "troupe/resilience";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { OrderCancelledSchema, OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentService } from "../../proto/gen/shop/v1/payment_pb.ts";
import { withHooks } from "./actor-hooks.ts";

export type OrderStepName = "reserved" | "charged" | "sold" | "released" | "refunded" | "announced";

export interface OrderStep {
  readonly step: OrderStepName | "charging";
  readonly orderId: string;
  /** Taken by a PlaceOrder call (rather than the PaymentCaptured consumer or the sweep). */
  readonly byCall: boolean;
  /** At `reserved`: the products of the order (what a test that does not know the order id knows). */
  readonly productIds?: readonly string[];
}

/** True inside an RPC handler: its scope is the call's HandlerContext (runtime/actor/call-scoped.ts). */
const inCall = () => "requestHeader" in (currentCallScope() ?? {});

type Step = (step: OrderStep) => void | Promise<void>;

/** Calls `call`, reports `before` and `after` around it (either may throw or wait). */
function around<Req, Res>(
  call: (request: Req, options?: CallOptions) => Promise<Res>,
  orderIdOf: (request: Req) => string,
  step: Step,
  after: OrderStepName,
  before?: "charging",
  more: (request: Req) => Partial<OrderStep> = () => ({}),
) {
  return async (request: Req, options?: CallOptions): Promise<Res> => {
    const orderId = orderIdOf(request);
    if (before !== undefined) await step({ step: before, orderId, byCall: inCall(), ...more(request) });
    const response = await call(request, options);
    await step({ step: after, orderId, byCall: inCall(), ...more(request) });
    return response;
  };
}

export function observeOrderSteps<State, P extends Publishes>(
  actor: ActorDefinition<State, P>,
  step: Step,
): ActorDefinition<State, P> {
  return withHooks(actor, {
    context(ctx) {
      const client = <S extends DescService>(service: S): Client<S> => {
        const real = ctx.client(service);
        if (service.typeName === InventoryService.typeName) {
          const inventory = real as unknown as Client<typeof InventoryService>;
          const wrapped: Client<typeof InventoryService> = {
            ...inventory,
            reserveStock: around(
              inventory.reserveStock,
              (r) => r.orderId ?? "",
              step,
              "reserved",
              undefined,
              (r) => ({
                productIds: (r.items ?? []).map((item) => item.productId ?? ""),
              }),
            ),
            sellReservation: around(inventory.sellReservation, (r) => r.orderId ?? "", step, "sold"),
            releaseReservation: around(
              inventory.releaseReservation,
              (r) => r.orderId ?? "",
              step,
              "released",
            ),
          };
          return wrapped as unknown as Client<S>;
        }
        if (service.typeName === PaymentService.typeName) {
          const payments = real as unknown as Client<typeof PaymentService>;
          const wrapped: Client<typeof PaymentService> = {
            ...payments,
            charge: around(payments.charge, (r) => r.orderId ?? "", step, "charged", "charging"),
            refund: around(
              payments.refund,
              (r) => /^order:(.*):cancelled$/.exec(r.idempotencyKey ?? "")?.[1] ?? "",
              step,
              "refunded",
            ),
          };
          return wrapped as unknown as Client<S>;
        }
        return real;
      };
      return {
        ...ctx,
        client,
        async publish(schema, init, options) {
          const ack = await ctx.publish(schema, init, options);
          if (
            schema.typeName === OrderPlacedSchema.typeName ||
            schema.typeName === OrderCancelledSchema.typeName
          ) {
            const orderId = String((init as { orderId?: string }).orderId ?? "");
            await step({ step: "announced", orderId, byCall: inCall() });
          }
          return ack;
        },
      };
    },
  });
}
