/**
 * Dead letters against a real nats-server: a poison job is tried `maxAttempts` times without
 * blocking the queue, lands in `DLQ` with its error, delivery count, headers and body, is listed,
 * and once the handler is fixed is redriven to its queue and handled, keeping its own id.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { enqueueJob, silentLogger } from "troupe";
import {
  consume,
  deadLetterStream,
  deleteDeadLetter,
  jobConsumer,
  jobStream,
  listDeadLetters,
  type RunningConsumer,
  reconcileConsumer,
  reconcileStreams,
  redriveDeadLetter,
} from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { createTally, eventually, withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };
const QUEUE = "JOB_shop_v1_FulfilOrder";

async function next(sub: Subscription, what: string): Promise<Msg> {
  return withTimeout(
    (async () => {
      for await (const m of sub) return m;
      throw new Error("subscription closed");
    })(),
    10_000,
    () => what,
  );
}

describe("dead letters", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let consumer: RunningConsumer | undefined;
  /** The handler's bug: fixed once the test says so. */
  let fixed = false;
  const attempts = createTally("attempts");
  const handled = createTally("handled");
  const handledIds = new Map<string, string>();

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    const version = nc.info?.version ?? "";
    await reconcileStreams(jsm, version, [jobStream(FulfilOrderSchema), deadLetterStream()]);
    await reconcileConsumer(
      jsm,
      version,
      QUEUE,
      jobConsumer(FulfilOrderSchema, { ackWaitMs: 1_000, maxAttempts: 3 }),
    );
    consumer = await consume(
      nc,
      FulfilOrderSchema,
      { stream: QUEUE, consumer: "FulfilOrder", kind: "job" },
      (job, meta) => {
        attempts.add(`${job.orderId}#${meta.deliveryCount}`);
        if (job.orderId.startsWith("poison") && !fixed) throw new Error("reservation r-9 does not exist");
        handledIds.set(job.orderId, meta.id);
        handled.add(job.orderId);
      },
      { logger: silentLogger, retryDelayMs: 50, concurrency: 2 },
    );
  });

  after(async () => {
    await consumer?.stop(0);
    await nc?.close();
    await server?.dispose();
  });

  test(
    "a poison job is tried maxAttempts times, dead-lettered, listed, redriven after a fix",
    TIMEOUT,
    async () => {
      const deadLetters = nc.subscribe("dlq.>", { max: 1 });
      const poison = await enqueueJob(
        js,
        FulfilOrderSchema,
        { orderId: "poison-1", reservationId: "r-9" },
        { headers: { "x-tenant": "acme" } },
      );
      await enqueueJob(js, FulfilOrderSchema, { orderId: "good-1" });

      const dead = await next(deadLetters, "the poison job was not dead-lettered");
      assert.equal(dead.subject, `dlq.${QUEUE}.FulfilOrder`);
      assert.deepEqual(
        attempts.entries.filter((a) => a.startsWith("poison")),
        ["poison-1#1", "poison-1#2", "poison-1#3"],
        "three attempts, then no more",
      );
      await handled.reached(1);
      assert.deepEqual(handled.entries, ["good-1"], "the poison job did not block the queue");

      const [letter, ...rest] = await listedDeadLetters(jsm);
      assert.equal(rest.length, 0);
      assert.ok(letter);
      assert.equal(letter.subject, "job.shop.v1.FulfilOrder");
      assert.equal(letter.stream, QUEUE);
      assert.equal(letter.seq, poison.seq);
      assert.equal(letter.consumer, "FulfilOrder");
      assert.equal(letter.id, poison.id);
      assert.equal(letter.error, "reservation r-9 does not exist");
      assert.equal(letter.code, Code.Unknown);
      assert.equal(letter.deliveryCount, 3);
      assert.equal(letter.headers.get("x-tenant"), "acme");
      assert.equal(fromBinary(FulfilOrderSchema, letter.body).orderId, "poison-1");
      assert.deepEqual(await listDeadLetters(jsm, { stream: QUEUE, consumer: "FulfilOrder" }), [letter]);
      assert.deepEqual(await listDeadLetters(jsm, { consumer: "SomeoneElse" }), [], "the filter applies");

      fixed = true;
      const redriven = await redriveDeadLetter(js, jsm, letter.deadLetterSeq);
      assert.equal(redriven.stream, QUEUE);
      assert.equal(redriven.duplicate, false, "a fresh Nats-Msg-Id passes the duplicate window");
      await handled.reached(2);
      assert.deepEqual(handled.entries, ["good-1", "poison-1"]);
      assert.equal(handledIds.get("poison-1"), poison.id, "the redriven job keeps its own id");
      assert.deepEqual(await listDeadLetters(jsm), [], "the dead letter is gone");
      await eventually(
        async () => (await jsm.streams.info(QUEUE)).state.messages === 0,
        "the queue is empty",
      );
    },
  );

  test("a dead letter can be deleted; a missing one is not_found", TIMEOUT, async () => {
    fixed = false;
    const deadLetters = nc.subscribe("dlq.>", { max: 1 });
    await enqueueJob(js, FulfilOrderSchema, { orderId: "poison-2" });
    await next(deadLetters, "the poison job was not dead-lettered");
    const [letter] = await listedDeadLetters(jsm);
    assert.ok(letter);
    assert.equal(await deleteDeadLetter(jsm, letter.deadLetterSeq), true);
    assert.deepEqual(await listDeadLetters(jsm), []);
    await assert.rejects(redriveDeadLetter(js, jsm, letter.deadLetterSeq), (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, Code.NotFound);
      return true;
    });
  });
});

/**
 * The dead letters once the DLQ stream lists one: a subscriber on `dlq.>` can see a dead letter's
 * publish before the stream has stored it.
 */
async function listedDeadLetters(jsm: JetStreamManager) {
  let listed: Awaited<ReturnType<typeof listDeadLetters>> = [];
  await eventually(async () => {
    listed = await listDeadLetters(jsm);
    return listed.length > 0;
  }, "the DLQ stream lists the dead letter");
  return listed;
}
