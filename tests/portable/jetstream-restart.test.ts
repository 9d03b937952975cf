/**
 * A nats-server restarted while jobs are published and consumed: every publish JetStream
 * acknowledged is handled, and the natural key (the order id) keeps the effects to one per job,
 * whatever was delivered again. Publishers retry with the same id, which the duplicate window
 * turns into one stored job.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { enqueueJob, silentLogger } from "troupe";
import {
  consume,
  deadLetterStream,
  jobConsumer,
  jobStream,
  type RunningConsumer,
  reconcileConsumer,
  reconcileStreams,
} from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { createTally, eventually, withTimeout, work } from "../support/jetstream-test-kit.ts";

const QUEUE = "JOB_shop_v1_FulfilOrder";
const JOBS = 400;
const RESTART_AFTER = 120;
const PUBLISHERS = 8;
const reconnect = { maxReconnectAttempts: -1, reconnectTimeWait: 50 };

let server: NatsServer;
let publisherNc: NatsConnection;
let consumerNc: NatsConnection;
let jsm: JetStreamManager;
let consumer: RunningConsumer | undefined;

before(async () => {
  server = await startNatsServer();
  publisherNc = await connect({ servers: server.url, ...reconnect });
  consumerNc = await connect({ servers: server.url, ...reconnect });
  jsm = await jetstreamManager(publisherNc);
  const version = publisherNc.info?.version ?? "";
  await reconcileStreams(jsm, version, [jobStream(FulfilOrderSchema), deadLetterStream()]);
  await reconcileConsumer(
    jsm,
    version,
    QUEUE,
    jobConsumer(FulfilOrderSchema, { ackWaitMs: 2_000, maxAttempts: 20 }),
  );
});

after(async () => {
  await consumer?.stop(0);
  await publisherNc?.close();
  await consumerNc?.close();
  await server?.dispose();
});

/**
 * Stops the server, keeps it down for `downMs` (the fault's length), and starts it again: `down`
 * settles once it is stopped, `restarted` once it serves again.
 */
function restartAfter(downMs: number): { down: Promise<void>; restarted: Promise<void> } {
  const down = server.stop().then(() => undefined);
  const restarted = down.then(async () => {
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await server.start();
  });
  return { down, restarted };
}

test("a server restart under load loses no acknowledged publish", { timeout: 60_000 }, async () => {
  const effects = new Set<string>();
  const handled = createTally("effects");
  let invocations = 0;
  consumer = await consume(
    consumerNc,
    FulfilOrderSchema,
    { stream: QUEUE, consumer: "FulfilOrder", kind: "job" },
    async (job) => {
      invocations++;
      await work(1);
      if (effects.has(job.orderId)) return; // the natural key: done before, nothing to do
      effects.add(job.orderId);
      handled.add(job.orderId);
    },
    { logger: silentLogger, concurrency: 4, bufferSize: 8, retryDelayMs: 100 },
  );

  const js = jetstream(publisherNc);
  const acked = new Set<string>();
  let retries = 0;
  let restart: ReturnType<typeof restartAfter> | undefined;
  let nextJob = 0;
  const publisher = async () => {
    for (let n = nextJob++; n < JOBS; n = nextJob++) {
      const orderId = `o-${n}`;
      // Once the restart begins, publishing goes on only when the server is down, so that the
      // outage surely meets publishes (a quick stop could otherwise let the rest through first).
      await restart?.down;
      // Until JetStream acknowledges it: the same id each time, so a retry is never a second job.
      for (;;) {
        try {
          await enqueueJob(js, FulfilOrderSchema, { orderId }, { id: orderId, timeoutMs: 1_000 });
          break;
        } catch (err) {
          if (!(err instanceof ConnectError)) throw err;
          retries++;
          await work(50);
        }
      }
      acked.add(orderId);
      // Down for longer than a publish waits (1 s), so that publishing is surely interrupted.
      if (acked.size === RESTART_AFTER) restart = restartAfter(1_500);
    }
  };
  await withTimeout(
    Promise.all(Array.from({ length: PUBLISHERS }, publisher)),
    40_000,
    () => `${acked.size} acknowledged`,
  );
  assert.ok(restart, "the server was restarted while publishing");
  await restart.restarted;
  assert.equal(acked.size, JOBS);

  await handled.reached(JOBS, 30_000);
  assert.deepEqual(
    [...acked].filter((id) => !effects.has(id)),
    [],
    "every acknowledged publish was handled",
  );
  assert.equal(effects.size, acked.size, "one effect per acknowledged publish");
  assert.ok(invocations >= JOBS);
  await eventually(
    async () => (await jsm.streams.info(QUEUE)).state.messages === 0,
    "the queue is drained",
    20_000,
  );
  assert.ok(retries > 0, "the restart interrupted publishing (publishes failed and were retried)");
  assert.ok((await jsm.streams.info(QUEUE)).state.last_seq >= JOBS);
});
