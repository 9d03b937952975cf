/**
 * A job worker process for tests/portable/jetstream-redelivery.test.ts. Runs an actor with
 * `runActor`, so SIGTERM drains it as it drains any actor process, whose FulfilOrder handler logs
 * `{"msg":"holding <order id>","deliveryCount":…}` and then holds the job until its signal aborts
 * (the drain's grace period has passed) or the test SIGKILLs the process. The consumer is
 * declared with the default options on purpose: the test is about what the defaults do.
 *
 * REDELIVERY_CONCURRENCY and REDELIVERY_BUFFER set the delivery loop's handler slots and buffer.
 */
import { defineActor, onJob, readEnv, runActor } from "troupe";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";

const concurrency = Number(readEnv("REDELIVERY_CONCURRENCY") ?? 1);
const bufferSize = Number(readEnv("REDELIVERY_BUFFER") ?? 4);

await runActor(
  defineActor({
    name: "redelivery",
    version: "1.0.0",
    description: "holds every job it takes until it is stopped",
    consumes: { jobs: [FulfilOrderSchema] },
    subscriptions: (ctx) => [
      onJob(
        FulfilOrderSchema,
        async (job, meta) => {
          ctx.logger.log("info", `holding ${job.orderId}`, { deliveryCount: meta.deliveryCount });
          const { signal } = meta;
          await new Promise<never>((_, reject) => {
            signal.addEventListener("abort", () => reject(signal.reason), { once: true });
          });
        },
        { concurrency, bufferSize },
      ),
    ],
  }),
);
