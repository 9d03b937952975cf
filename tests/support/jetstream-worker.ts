/**
 * A worker process for the crash test (tests/portable/jetstream-crash.test.ts): consumes the
 * FulfilOrder queue on NATS_URL and never finishes a job, so the test can SIGKILL it mid-handler.
 * A job whose order id starts with "after-" gets its effect first (a KV `create` of
 * `effect.<order id>` in bucket `effects`: the natural key), one starting with "before-" does not.
 * Prints one JSON line per step: {"msg":"holding","orderId":…,"effect":true|false}.
 */
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { silentLogger } from "troupe";
import { consume } from "troupe/jetstream";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";

const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const nc = await connect({ servers: url });
const effects = await new Kvm(nc).open("effects");

await consume(
  nc,
  FulfilOrderSchema,
  { stream: "JOB_shop_v1_FulfilOrder", consumer: "FulfilOrder", kind: "job" },
  async (job) => {
    let effect = false;
    if (job.orderId.startsWith("after-")) {
      await effects.create(`effect.${job.orderId}`, new TextEncoder().encode("worker"));
      effect = true;
    }
    console.log(JSON.stringify({ msg: "holding", orderId: job.orderId, effect }));
    await new Promise(() => {}); // the process dies here
  },
  { logger: silentLogger, concurrency: 4 },
);
console.log(JSON.stringify({ msg: "consuming" }));
