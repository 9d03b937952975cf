/**
 * The delivery loop against a real nats-server: fan-out between services and load balancing
 * between the instances of one, work queues, retries with backoff, long handlers kept alive,
 * deadlines, per-key ordering, bounded in-flight work, the idempotency guard and draining.
 * Each test uses its own namespace, so its streams start empty.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { enqueueJob, openIdempotencyGuard, publishEvent, silentLogger } from "troupe";
import {
  type ConsumeOptions,
  type ConsumerSpec,
  consume,
  deadLetterStream,
  eventConsumer,
  eventStream,
  jobConsumer,
  jobStream,
  type MessageHandler,
  type RunningConsumer,
  reconcileConsumer,
  reconcileStreams,
} from "troupe/jetstream";
import { deadLetterStreamName, eventSubject, Header, jobSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { UserRegisteredSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import { createTally, deferred, eventually, withTimeout, work } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };
const FAST = { ackWaitMs: 1_000, maxAttempts: 3 };

describe("consuming events and jobs", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let version: string;
  const running: RunningConsumer[] = [];
  let namespaces = 0;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    version = nc.info?.version ?? "";
  });

  after(async () => {
    await Promise.all(running.map((c) => c.stop(0)));
    await nc?.close();
    await server?.dispose();
  });

  /** A fresh namespace with its event, job and dead-letter streams, and the given consumers. */
  async function declare(...consumers: ((namespace: string) => ConsumerSpec)[]) {
    const namespace = `t${++namespaces}`;
    const streams = [
      eventStream("shop.v1", { namespace }),
      jobStream(FulfilOrderSchema, { namespace }),
      deadLetterStream({ namespace }),
    ];
    await reconcileStreams(jsm, version, streams);
    for (const spec of consumers) {
      const consumer = spec(namespace);
      const stream = consumer.filter_subject?.includes(".job.") ? streams[1] : streams[0];
      await reconcileConsumer(jsm, version, stream?.name ?? "", consumer);
    }
    return { namespace, events: `${namespace}_EVT_shop_v1`, jobs: `${namespace}_JOB_shop_v1_FulfilOrder` };
  }

  async function start<D extends typeof UserRegisteredSchema | typeof FulfilOrderSchema>(
    schema: D,
    target: { namespace: string; stream: string; consumer: string },
    handler: MessageHandler<D>,
    options: Partial<ConsumeOptions> = {},
  ): Promise<RunningConsumer> {
    const kind = schema === FulfilOrderSchema ? "job" : "event";
    const { namespace, stream, consumer } = target;
    const c = await consume(nc, schema, { stream, consumer, kind }, handler, {
      logger: silentLogger,
      namespace,
      ...options,
    });
    running.push(c);
    return c;
  }

  test("every service gets every event; the instances of one service share them", TIMEOUT, async () => {
    const { namespace, events } = await declare(
      (ns) => eventConsumer("email", UserRegisteredSchema, { namespace: ns, ...FAST }),
      (ns) => eventConsumer("billing", UserRegisteredSchema, { namespace: ns, ...FAST }),
    );
    const email = createTally("email");
    const billingA = createTally("billing A");
    const billingB = createTally("billing B");
    const billing = createTally("billing");
    const options = { concurrency: 2, bufferSize: 2 };
    await start(
      UserRegisteredSchema,
      { namespace, stream: events, consumer: "email_UserRegistered" },
      (m) => email.add(m.userId),
      options,
    );
    for (const instance of [billingA, billingB]) {
      await start(
        UserRegisteredSchema,
        { namespace, stream: events, consumer: "billing_UserRegistered" },
        async (m) => {
          await work(5);
          instance.add(m.userId);
          billing.add(m.userId);
        },
        options,
      );
    }
    const ids = Array.from({ length: 40 }, (_, i) => `u-${i}`);
    await Promise.all(ids.map((userId) => publishEvent(js, UserRegisteredSchema, { userId }, { namespace })));
    await Promise.all([email.reached(40), billing.reached(40)]);

    assert.deepEqual([...email.distinct].sort(), [...ids].sort(), "email saw every event");
    assert.deepEqual([...billing.distinct].sort(), [...ids].sort(), "billing saw every event");
    assert.ok(billingA.entries.length > 0 && billingB.entries.length > 0, "both billing instances took some");
    assert.equal(
      billingA.entries.filter((id) => billingB.distinct.has(id)).length,
      0,
      "no event went to both",
    );
    for (const consumer of ["email_UserRegistered", "billing_UserRegistered"]) {
      await eventually(
        async () => (await jsm.consumers.info(events, consumer)).num_ack_pending === 0,
        `${consumer} has acknowledged everything`,
      );
      // The delivery sequence counts every delivery (num_redelivered forgets acknowledged ones).
      assert.equal(
        (await jsm.consumers.info(events, consumer)).delivered.consumer_seq,
        40,
        `${consumer}: nothing twice`,
      );
    }
  });

  test("a job is taken by exactly one of two instances and then leaves the queue", TIMEOUT, async () => {
    const { namespace, jobs } = await declare((ns) =>
      jobConsumer(FulfilOrderSchema, { namespace: ns, ...FAST }),
    );
    const all = createTally("jobs");
    const byInstance = [createTally("A"), createTally("B")];
    for (const tally of byInstance) {
      await start(FulfilOrderSchema, { namespace, stream: jobs, consumer: "FulfilOrder" }, async (m) => {
        await work(5);
        tally.add(m.orderId);
        all.add(m.orderId);
      });
    }
    const ids = Array.from({ length: 30 }, (_, i) => `o-${i}`);
    await Promise.all(ids.map((orderId) => enqueueJob(js, FulfilOrderSchema, { orderId }, { namespace })));
    await all.reached(30);
    assert.equal(all.distinct.size, 30);
    const [a, b] = byInstance;
    assert.equal(a?.entries.filter((id) => b?.distinct.has(id)).length, 0, "no job ran on both instances");
    await eventually(async () => (await jsm.streams.info(jobs)).state.messages === 0, "the queue is empty");
  });

  test("a duplicate publish is handled once", TIMEOUT, async () => {
    const { namespace, events } = await declare((ns) =>
      eventConsumer("email", UserRegisteredSchema, { namespace: ns, ...FAST }),
    );
    const seen = createTally();
    await start(
      UserRegisteredSchema,
      { namespace, stream: events, consumer: "email_UserRegistered" },
      (m, meta) => seen.add(`${m.userId}:${meta.id}`),
      {
        concurrency: 1,
      },
    );
    await publishEvent(js, UserRegisteredSchema, { userId: "dup" }, { namespace, id: "same-id" });
    await publishEvent(js, UserRegisteredSchema, { userId: "dup" }, { namespace, id: "same-id" });
    // One handler at a time, in stream order: once the sentinel is seen, the duplicate had its chance.
    await publishEvent(js, UserRegisteredSchema, { userId: "sentinel" }, { namespace, id: "sentinel" });
    await seen.reached(2);
    assert.deepEqual(seen.entries, ["dup:same-id", "sentinel:sentinel"]);
  });

  test("a failing handler is retried with backoff and succeeds on a later delivery", TIMEOUT, async () => {
    const { namespace, jobs } = await declare((ns) =>
      jobConsumer(FulfilOrderSchema, { namespace: ns, ackWaitMs: 5_000, maxAttempts: 5 }),
    );
    const attempts: { count: number; at: number }[] = [];
    const done = deferred();
    const retryDelayMs = 200;
    await start(
      FulfilOrderSchema,
      { namespace, stream: jobs, consumer: "FulfilOrder" },
      (_, meta) => {
        attempts.push({ count: meta.deliveryCount, at: performance.now() });
        if (meta.deliveryCount < 3) throw new Error(`transient failure ${meta.deliveryCount}`);
        done.resolve();
      },
      { retryDelayMs },
    );
    await enqueueJob(js, FulfilOrderSchema, { orderId: "flaky" }, { namespace });
    await withTimeout(done.promise, 10_000, () => `attempts so far: ${JSON.stringify(attempts)}`);
    assert.deepEqual(
      attempts.map((a) => a.count),
      [1, 2, 3],
    );
    const [first, second, third] = attempts.map((a) => a.at);
    // nak(delay) with 20 % jitter: at least 0.8 × 200 ms, then 0.8 × 400 ms.
    assert.ok(
      (second ?? 0) - (first ?? 0) >= 0.8 * retryDelayMs - 20,
      `first retry after ${(second ?? 0) - (first ?? 0)} ms`,
    );
    assert.ok(
      (third ?? 0) - (second ?? 0) >= 0.8 * 2 * retryDelayMs - 20,
      `second retry after ${(third ?? 0) - (second ?? 0)} ms`,
    );
    await eventually(
      async () => (await jsm.streams.info(jobs)).state.messages === 0,
      "the job was acknowledged",
    );
  });

  test("a handler longer than the ack wait keeps its message (working)", TIMEOUT, async () => {
    const { namespace, jobs } = await declare((ns) =>
      jobConsumer(FulfilOrderSchema, { namespace: ns, ackWaitMs: 1_000, maxAttempts: 3 }),
    );
    const deliveries = createTally();
    const finished = deferred();
    await start(FulfilOrderSchema, { namespace, stream: jobs, consumer: "FulfilOrder" }, async (m, meta) => {
      deliveries.add(`${m.orderId}#${meta.deliveryCount}`);
      await work(2_600);
      finished.resolve();
    });
    await enqueueJob(js, FulfilOrderSchema, { orderId: "slow" }, { namespace });
    await withTimeout(finished.promise, 10_000, () => "the slow handler did not finish");
    await eventually(
      async () => (await jsm.streams.info(jobs)).state.messages === 0,
      "the job was acknowledged",
    );
    assert.deepEqual(deliveries.entries, ["slow#1"], "never delivered again while it ran");
    assert.equal((await jsm.consumers.info(jobs, "FulfilOrder")).delivered.consumer_seq, 1, "one delivery");
  });

  test("a job past its deadline is dead-lettered without running the handler", TIMEOUT, async () => {
    const { namespace, jobs } = await declare((ns) =>
      jobConsumer(FulfilOrderSchema, { namespace: ns, ...FAST }),
    );
    const ran = createTally();
    const deadLetters = nc.subscribe(`${namespace}.dlq.>`, { max: 1 });
    await start(FulfilOrderSchema, { namespace, stream: jobs, consumer: "FulfilOrder" }, (m) =>
      ran.add(m.orderId),
    );
    const hdrs = headers();
    hdrs.set(Header.deadline, String(Date.now() - 1_000));
    await js.publish(
      jobSubject(FulfilOrderSchema, namespace),
      toBinary(FulfilOrderSchema, create(FulfilOrderSchema, { orderId: "late" })),
      { headers: hdrs, msgID: "late-1" },
    );
    const dead = await withTimeout(
      (async () => {
        for await (const m of deadLetters) return m;
        throw new Error("subscription closed");
      })(),
      10_000,
      () => "no dead letter",
    );
    assert.equal(dead.subject, `${namespace}.dlq.${jobs}.FulfilOrder`);
    assert.equal(dead.headers?.get(Header.deadLetterCode), "deadline_exceeded");
    assert.match(dead.headers?.get(Header.deadLetterError) ?? "", /deadline .* passed/);
    assert.equal(dead.headers?.get(Header.messageId), "late-1");
    assert.equal(ran.entries.length, 0, "the handler never ran");
  });

  test("an event is handled even with a past deadline header: a fact never expires", TIMEOUT, async () => {
    const { namespace, events } = await declare((ns) =>
      eventConsumer("email", UserRegisteredSchema, { namespace: ns, ...FAST }),
    );
    const ran = createTally();
    const deadlines: (number | undefined)[] = [];
    await start(
      UserRegisteredSchema,
      { namespace, stream: events, consumer: "email_UserRegistered" },
      (m, meta) => {
        deadlines.push(meta.deadline);
        ran.add(m.userId);
      },
    );
    // As an older publisher stored it: with the deadline of the call it was published in.
    const hdrs = headers();
    hdrs.set(Header.deadline, String(Date.now() - 1_000));
    await js.publish(
      eventSubject(UserRegisteredSchema, "late", namespace),
      toBinary(UserRegisteredSchema, create(UserRegisteredSchema, { userId: "late" })),
      { headers: hdrs, msgID: "late-1" },
    );
    await ran.reached(1, 10_000);
    assert.deepEqual(ran.entries, ["late"]);
    assert.deepEqual(deadlines, [undefined], "the handler sees no deadline");
    await eventually(
      async () => (await jsm.consumers.info(events, "email_UserRegistered")).num_ack_pending === 0,
      "the event was acknowledged",
    );
    assert.equal(
      (await jsm.streams.info(deadLetterStreamName(namespace))).state.messages,
      0,
      "no dead letter",
    );
  });

  test("bytes that do not decode are dead-lettered at once as invalid_argument", TIMEOUT, async () => {
    const { namespace, events } = await declare((ns) =>
      eventConsumer("email", UserRegisteredSchema, { namespace: ns, ...FAST }),
    );
    const ran = createTally();
    const deadLetters = nc.subscribe(`${namespace}.dlq.>`, { max: 1 });
    await start(UserRegisteredSchema, { namespace, stream: events, consumer: "email_UserRegistered" }, (m) =>
      ran.add(m.userId),
    );
    await js.publish(
      eventSubject(UserRegisteredSchema, "garbage", namespace),
      new Uint8Array([0xff, 0xff, 0xff]),
    );
    const dead = await withTimeout(
      (async () => {
        for await (const m of deadLetters) return m;
        throw new Error("subscription closed");
      })(),
      10_000,
      () => "no dead letter",
    );
    assert.equal(dead.headers?.get(Header.deadLetterCode), "invalid_argument");
    assert.equal(
      dead.headers?.get(Header.deadLetterDeliveries),
      "1",
      "no retries for poison that can never decode",
    );
    assert.deepEqual([...dead.data], [0xff, 0xff, 0xff], "the original bytes are kept");
    assert.equal(ran.entries.length, 0);
  });

  test(
    "per-key ordering: one message per key at a time, in order; other keys run alongside",
    TIMEOUT,
    async () => {
      const { namespace, events } = await declare((ns) =>
        eventConsumer("email", UserRegisteredSchema, { namespace: ns, ...FAST }),
      );
      const active = new Map<string, number>();
      const order = new Map<string, number[]>();
      let overlapPerKey = 0;
      let maxActive = 0;
      const otherKeyStarted = deferred();
      const all = createTally();
      await start(
        UserRegisteredSchema,
        { namespace, stream: events, consumer: "email_UserRegistered" },
        async (m, meta) => {
          const key = meta.key ?? "";
          const now = (active.get(key) ?? 0) + 1;
          active.set(key, now);
          if (now > 1) overlapPerKey++;
          maxActive = Math.max(
            maxActive,
            [...active.values()].reduce((a, b) => a + b, 0),
          );
          order.set(key, [...(order.get(key) ?? []), Number(m.email)]);
          if (key === "b") otherKeyStarted.resolve();
          // The first message of key a waits for key b: only concurrency across keys ends this.
          if (key === "a" && m.email === "0") await otherKeyStarted.promise;
          await work(10);
          active.set(key, (active.get(key) ?? 1) - 1);
          all.add(`${key}${m.email}`);
        },
        { concurrency: 4, bufferSize: 8, perKeyOrdering: true },
      );
      for (let i = 0; i < 6; i++) {
        for (const key of ["a", "b", "c"]) {
          await publishEvent(js, UserRegisteredSchema, { userId: key, email: String(i) }, { namespace });
        }
      }
      await all.reached(18);
      assert.equal(overlapPerKey, 0, "never two messages of one key at once");
      for (const key of ["a", "b", "c"])
        assert.deepEqual(order.get(key), [0, 1, 2, 3, 4, 5], `key ${key} in order`);
      assert.ok(maxActive >= 2, "different keys ran concurrently");
    },
  );

  test("a slow consumer holds a bounded number of messages and loses none", TIMEOUT, async () => {
    const { namespace, jobs } = await declare((ns) =>
      jobConsumer(FulfilOrderSchema, { namespace: ns, ...FAST }),
    );
    const all = createTally();
    let active = 0;
    let maxActive = 0;
    let maxHeld = 0;
    const options = { concurrency: 2, bufferSize: 3 };
    const consumer = await start(
      FulfilOrderSchema,
      { namespace, stream: jobs, consumer: "FulfilOrder" },
      async (m) => {
        active++;
        maxActive = Math.max(maxActive, active);
        maxHeld = Math.max(maxHeld, consumer.inFlight);
        await work(5);
        active--;
        all.add(m.orderId);
      },
      options,
    );
    const ids = Array.from({ length: 150 }, (_, i) => `o-${i}`);
    await Promise.all(ids.map((orderId) => enqueueJob(js, FulfilOrderSchema, { orderId }, { namespace })));
    // Delivered and not yet acknowledged, as the server counts: the messages held (the loop asks
    // for no more), and finished ones whose acks are still queued or on their way.
    const bound = 2 * (options.concurrency + options.bufferSize) + 1;
    const info = await jsm.consumers.info(jobs, "FulfilOrder");
    assert.ok(info.num_ack_pending <= bound, `${info.num_ack_pending} delivered and unacknowledged`);
    await all.reached(150);
    assert.equal(all.distinct.size, 150, "every job handled");
    assert.equal(all.entries.length, 150, "none twice");
    assert.ok(
      maxActive <= options.concurrency,
      `at most ${options.concurrency} handlers at once, saw ${maxActive}`,
    );
    assert.ok(maxHeld <= options.concurrency + options.bufferSize, `held at most ${maxHeld}`);
  });

  test("a message delivered again while its instance still holds it runs once there", TIMEOUT, async () => {
    const { namespace, jobs } = await declare((ns) =>
      jobConsumer(FulfilOrderSchema, { namespace: ns, ackWaitMs: 1_000, maxAttempts: 5 }),
    );
    // Both stored first, so the instance receives them together: "held" waits for the one slot.
    await enqueueJob(js, FulfilOrderSchema, { orderId: "stall" }, { namespace });
    await enqueueJob(js, FulfilOrderSchema, { orderId: "held" }, { namespace });
    const runs = createTally("runs");
    const heldDone = deferred();
    await start(
      FulfilOrderSchema,
      { namespace, stream: jobs, consumer: "FulfilOrder" },
      async (m, meta) => {
        runs.add(`${m.orderId}#${meta.deliveryCount}`);
        if (m.orderId === "stall" && meta.deliveryCount === 1) {
          await work(100);
          // Then synchronous work past the ack wait: no progress signal can go out, so JetStream
          // delivers both jobs again while this instance still holds them.
          const until = performance.now() + 1_800;
          while (performance.now() < until) {}
        }
        if (m.orderId === "held") {
          await work(1_000);
          heldDone.resolve();
        }
      },
      { concurrency: 1, bufferSize: 4 },
    );
    await withTimeout(heldDone.promise, 10_000, () => `runs: ${runs.entries.join(", ")}`);
    await eventually(
      async () => (await jsm.streams.info(jobs)).state.messages === 0,
      "both jobs acknowledged",
    );
    // Two jobs, so a third delivery is one made again (num_redelivered forgets acked ones).
    const { delivered } = await jsm.consumers.info(jobs, "FulfilOrder");
    assert.ok(delivered.consumer_seq > 2, `JetStream delivered again: ${delivered.consumer_seq} deliveries`);
    assert.deepEqual(
      runs.entries.filter((r) => r.startsWith("held")),
      ["held#1"],
      "the job waiting behind the stall ran once, although it was delivered again",
    );
  });

  test("the idempotency guard skips a message id that was already handled", TIMEOUT, async () => {
    const { namespace, events } = await declare((ns) =>
      eventConsumer("email", UserRegisteredSchema, { namespace: ns, ...FAST }),
    );
    const guard = await openIdempotencyGuard(js, { namespace, ttlMs: 60_000 });
    const seen = createTally();
    await start(
      UserRegisteredSchema,
      { namespace, stream: events, consumer: "email_UserRegistered" },
      (m) => seen.add(m.userId),
      {
        concurrency: 1,
        idempotencyGuard: guard,
      },
    );
    await publishEvent(js, UserRegisteredSchema, { userId: "first" }, { namespace, id: "welcome-1" });
    // The same message again after the duplicate window (a redelivery or a redrive): same own id.
    const hdrs = headers();
    hdrs.set(Header.messageId, "welcome-1");
    await js.publish(
      eventSubject(UserRegisteredSchema, "again", namespace),
      toBinary(UserRegisteredSchema, {
        $typeName: "shop.v1.UserRegistered",
        userId: "again",
        email: "",
        displayName: "",
      }),
      { headers: hdrs, msgID: "fresh-nats-id" },
    );
    await publishEvent(js, UserRegisteredSchema, { userId: "sentinel" }, { namespace });
    await seen.reached(2);
    assert.deepEqual(seen.entries, ["first", "sentinel"]);
    assert.equal(await guard.handled("email_UserRegistered", "welcome-1"), true);
  });

  test("stop() lets the running handler finish and gives back what it had not started", TIMEOUT, async () => {
    const { namespace, jobs } = await declare((ns) =>
      jobConsumer(FulfilOrderSchema, { namespace: ns, ackWaitMs: 30_000, maxAttempts: 3 }),
    );
    const started = deferred();
    const release = deferred();
    const first = createTally("first instance");
    const consumer = await start(
      FulfilOrderSchema,
      { namespace, stream: jobs, consumer: "FulfilOrder" },
      async (m) => {
        started.resolve();
        await release.promise;
        first.add(m.orderId);
      },
      { concurrency: 1, bufferSize: 4 },
    );
    for (let i = 0; i < 4; i++) await enqueueJob(js, FulfilOrderSchema, { orderId: `o-${i}` }, { namespace });
    await started.promise;
    // Messages still on their way when a consumer stops come back only after the ack wait;
    // this test is about the ones it holds.
    await eventually(() => consumer.inFlight === 4, "the instance holds all four jobs");
    const stopped = consumer.stop(5_000);
    release.resolve();
    await stopped;
    assert.deepEqual(first.entries, ["o-0"], "the running handler finished; nothing else started");
    assert.equal(await consumer.done, undefined);

    // The rest were given back (not left to time out after 30 s): another instance gets them now.
    const second = createTally("second instance");
    await start(FulfilOrderSchema, { namespace, stream: jobs, consumer: "FulfilOrder" }, (m) =>
      second.add(m.orderId),
    );
    await second.reached(3, 10_000);
    assert.deepEqual([...second.distinct].sort(), ["o-1", "o-2", "o-3"]);
    await eventually(async () => (await jsm.streams.info(jobs)).state.messages === 0, "the queue is empty");
  });

  test("acks of a synchronous handler are batched, and stop() sends the queued ones", TIMEOUT, async () => {
    const { namespace, events } = await declare((ns) =>
      eventConsumer("audit", UserRegisteredSchema, { namespace: ns, ackWaitMs: 30_000, maxAttempts: 3 }),
    );
    const count = 300;
    const ids = Array.from({ length: count }, (_, i) => `u-${i}`);
    await Promise.all(ids.map((userId) => publishEvent(js, UserRegisteredSchema, { userId }, { namespace })));
    const seen = createTally("audit");
    // Synchronous, so each message goes from arrival to its queued ack without a promise.
    const consumer = await start(
      UserRegisteredSchema,
      { namespace, stream: events, consumer: "audit_UserRegistered" },
      (m) => seen.add(m.userId),
      { concurrency: 2, bufferSize: 16 },
    );
    await seen.reached(count);
    // No waiting for a timer: stop() sends the acks still queued and flushes them to the server.
    await consumer.stop(1_000);
    const info = await jsm.consumers.info(events, "audit_UserRegistered");
    assert.equal(info.ack_floor.stream_seq, count, "every message acked by the time stop() returned");
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.delivered.consumer_seq, count, "nothing delivered twice");
    assert.deepEqual([...seen.distinct].sort(), [...ids].sort());
  });

  test("a handler that throws invalid_argument is not retried", TIMEOUT, async () => {
    const { namespace, jobs } = await declare((ns) =>
      jobConsumer(FulfilOrderSchema, { namespace: ns, ...FAST }),
    );
    const deadLetters = nc.subscribe(`${namespace}.dlq.>`, { max: 1 });
    const attempts = createTally();
    const { ConnectError } = await import("@connectrpc/connect");
    await start(FulfilOrderSchema, { namespace, stream: jobs, consumer: "FulfilOrder" }, (m) => {
      attempts.add(m.orderId);
      throw new ConnectError("order id is malformed", Code.InvalidArgument);
    });
    await enqueueJob(js, FulfilOrderSchema, { orderId: "bad" }, { namespace });
    for await (const dead of deadLetters) {
      assert.equal(dead.headers?.get(Header.deadLetterCode), "invalid_argument");
      assert.equal(dead.headers?.get(Header.deadLetterError), "order id is malformed");
    }
    assert.deepEqual(attempts.entries, ["bad"]);
  });
});
