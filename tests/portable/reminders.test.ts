/**
 * Durable reminders of keyed actors (runtime/jetstream/reminders.ts) against a real nats-server:
 * JetStream message schedules (NATS ADR-51) fire them once, at their time and never before;
 * setting a name again replaces it, cancelling removes it; they survive a server restart and wait
 * for a consumer that is not running; a failed handler gets its reminder again; and the work-queue
 * stream keeps only what is pending. Each test has its own namespace, so its own stream.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createJsonLogger } from "troupe";
import {
  consumeReminders,
  type FiredReminder,
  openReminders,
  type RunningConsumer,
  reconcileStreams,
  reminderStream,
} from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { OrderService } from "../../proto/gen/shop/v1/order_pb.ts";
import {
  keyOfReminderToken,
  reminderConsumerName,
  reminderFireSubject,
  reminderKeyToken,
  reminderScheduleSubject,
  reminderStreamName,
} from "../../runtime/protocol/subjects.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { createTally, eventually, type Tally } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 20_000 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const service = OrderService;
/** The consumer's warnings (a handler that throws, the server away) are expected here. */
const quiet = createJsonLogger({}, "error");

/** What a handler saw, and when. */
interface Seen {
  readonly fired: FiredReminder;
  readonly atMs: number;
}

describe("reminders", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let namespaces = 0;
  /** A namespace, so a stream and consumer, no other test uses. */
  const freshNamespace = () => `t${++namespaces}`;

  before(async () => {
    server = await startNatsServer();
    // Reconnects quickly, for the restart test.
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    await nc?.close();
    await server?.dispose();
  });

  /** Starts a consumer of `namespace`'s reminders that records each one; `fail` may throw. */
  async function watch(
    namespace: string,
    fail: (fired: FiredReminder, attempt: number) => void = () => {},
  ): Promise<{ seen: Seen[]; tally: Tally; running: RunningConsumer }> {
    const seen: Seen[] = [];
    const tally = createTally("reminders");
    const attempts = new Map<string, number>();
    const running = await consumeReminders(
      nc,
      service,
      async (fired) => {
        const id = `${fired.key}/${fired.name}`;
        const attempt = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, attempt);
        seen.push({ fired, atMs: Date.now() });
        tally.add(id);
        fail(fired, attempt);
      },
      { namespace, logger: quiet },
    );
    return { seen, tally, running };
  }

  /** Resolves once the consumer holds nothing and has nothing left to deliver. */
  async function settled(namespace: string): Promise<{ deliveries: number }> {
    const stream = reminderStreamName(namespace);
    let deliveries = -1;
    await eventually(async () => {
      const info = await jsm.consumers.info(stream, reminderConsumerName(service));
      deliveries = info.delivered.consumer_seq;
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, "the reminder consumer has nothing pending");
    // Acked reminders leave the work queue: the stream holds only what is still to fire.
    await eventually(
      async () => (await jsm.streams.info(stream)).state.messages === 0,
      "the reminder stream is empty",
    );
    return { deliveries };
  }

  /** The last message stored on `subject` in the namespace's stream, or undefined. */
  async function storedOn(namespace: string, subject: string) {
    return (
      (await jsm.streams.getMessage(reminderStreamName(namespace), { last_by_subj: subject })) ?? undefined
    );
  }

  test("the stream: a work queue of message schedules, one per namespace, no max age", TIMEOUT, async () => {
    const namespace = freshNamespace();
    await openReminders(nc, service, { namespace });
    await openReminders(nc, service, { namespace }); // declaring again changes nothing
    const { config } = await jsm.streams.info(`${namespace}_TROUPE_REMINDERS`);
    assert.deepEqual(config.subjects, [`${namespace}.troupe.rem.>`]);
    assert.equal(config.retention, "workqueue");
    assert.equal(config.allow_msg_schedules, true);
    assert.equal(config.storage, "file");
    assert.equal(config.max_age, 0);
    assert.equal(config.num_replicas, 1);
  });

  test("a reminder fires once, at its time and not before", TIMEOUT, async () => {
    const namespace = freshNamespace();
    const reminders = await openReminders(nc, service, { namespace });
    const { seen, tally, running } = await watch(namespace);
    try {
      const setAt = Date.now();
      await reminders.set("order-1", "expire", 1_000, encoder.encode("ping"));
      await tally.reached(1, 10_000);
      const [first] = seen;
      assert.ok(first);
      const { fired, atMs } = first;
      assert.equal(fired.key, "order-1");
      assert.equal(fired.name, "expire");
      assert.equal(decoder.decode(fired.payload), "ping");
      const dueMs = fired.dueAt.getTime();
      assert.ok(dueMs >= setAt + 1_000 && dueMs <= setAt + 1_100, `due ${dueMs - setAt} ms after set`);
      assert.ok(atMs >= dueMs, `handled ${dueMs - atMs} ms before it was due`);
      assert.ok(atMs - dueMs < 1_500, `handled ${atMs - dueMs} ms after it was due`);
      console.log(`reminder handled ${atMs - dueMs} ms after its due time`);
      const { deliveries } = await settled(namespace);
      assert.equal(deliveries, 1, "delivered exactly once");
      assert.equal(seen.length, 1);
    } finally {
      await running.stop(1_000);
    }
  });

  test("a time already past fires at once, and keeps its due time", TIMEOUT, async () => {
    const namespace = freshNamespace();
    const reminders = await openReminders(nc, service, { namespace });
    const { seen, tally, running } = await watch(namespace);
    try {
      const past = new Date(Date.now() - 60_000);
      const setAt = Date.now();
      await reminders.set("order-0", "overdue", past);
      await reminders.set("order-0", "long-overdue", new Date("1900-01-01T00:00:00Z"));
      await tally.reached(2, 5_000);
      assert.deepEqual(new Set(seen.map((s) => s.fired.name)), new Set(["overdue", "long-overdue"]));
      assert.equal(seen.find((s) => s.fired.name === "overdue")?.fired.dueAt.getTime(), past.getTime());
      const latest = Math.max(...seen.map((s) => s.atMs));
      assert.ok(latest - setAt < 2_000, `handled ${latest - setAt} ms after set`);
      await settled(namespace);
    } finally {
      await running.stop(1_000);
    }
  });

  test("set twice with one name: fires once, with the second payload and time", TIMEOUT, async () => {
    const namespace = freshNamespace();
    const reminders = await openReminders(nc, service, { namespace });
    const { seen, tally, running } = await watch(namespace);
    try {
      const firstDue = new Date(Date.now() + 800);
      const secondDue = new Date(Date.now() + 1_300);
      await reminders.set("order-2", "retry", firstDue, encoder.encode("first"));
      await reminders.set("order-2", "retry", secondDue, encoder.encode("second"));
      const schedule = await storedOn(
        namespace,
        reminderScheduleSubject(service, "order-2", "retry", namespace),
      );
      assert.equal(schedule?.header.get("Nats-Rollup"), "sub", "the server keeps one schedule per subject");
      // The first would have fired before the second: the first one seen is the only one.
      await tally.reached(1, 10_000);
      assert.equal(decoder.decode(seen[0]?.fired.payload), "second");
      assert.equal(seen[0]?.fired.dueAt.getTime(), secondDue.getTime());
      assert.ok((seen[0]?.atMs ?? 0) >= secondDue.getTime(), "not at the replaced, earlier time");
      const { deliveries } = await settled(namespace);
      assert.equal(deliveries, 1);
      assert.equal(seen.length, 1);
    } finally {
      await running.stop(1_000);
    }
  });

  test("a cancelled reminder never fires", TIMEOUT, async () => {
    const namespace = freshNamespace();
    const reminders = await openReminders(nc, service, { namespace });
    const { seen, tally, running } = await watch(namespace);
    try {
      await reminders.set("order-3", "cancelled", 600);
      // A later reminder: once it fired, the cancelled one's time has passed.
      await reminders.set("order-3", "sentinel", 1_100);
      await reminders.cancel("order-3", "cancelled");
      assert.equal(
        await storedOn(namespace, reminderScheduleSubject(service, "order-3", "cancelled", namespace)),
        undefined,
        "the schedule is purged",
      );
      await reminders.cancel("order-3", "cancelled"); // cancelling what is not there is fine
      await reminders.cancel("order-3", "never-set");
      await tally.reached(1, 10_000);
      assert.deepEqual(
        seen.map((s) => s.fired.name),
        ["sentinel"],
      );
      const { deliveries } = await settled(namespace);
      assert.equal(deliveries, 1, "only the sentinel was delivered");
    } finally {
      await running.stop(1_000);
    }
  });

  test(
    "reminders that fired while no consumer ran reach the one that starts; cancelled ones do not",
    TIMEOUT,
    async () => {
      const namespace = freshNamespace();
      const reminders = await openReminders(nc, service, { namespace });
      const dueAt = Date.now() + 300;
      await reminders.set("order-4", "cancelled", new Date(dueAt - 100));
      await reminders.set("order-4", "waiting", new Date(dueAt), encoder.encode("kept"));
      const fired = (name: string) => reminderFireSubject(service, "order-4", name, namespace);
      await eventually(
        async () => (await storedOn(namespace, fired("waiting"))) !== undefined,
        "the stream stored the fired reminder",
      );
      const stored = await storedOn(namespace, fired("waiting"));
      assert.equal(
        stored?.header.get("Nats-Scheduler"),
        reminderScheduleSubject(service, "order-4", "waiting", namespace),
      );
      assert.equal(
        await storedOn(namespace, reminderScheduleSubject(service, "order-4", "waiting", namespace)),
        undefined,
        "a one-shot schedule is removed once it fired",
      );
      assert.ok(await storedOn(namespace, fired("cancelled")), "fired, and waiting for a consumer");
      await reminders.cancel("order-4", "cancelled");

      const { seen, tally, running } = await watch(namespace);
      try {
        await tally.reached(1, 10_000);
        // The cancelled one fired first, so it would have been delivered first.
        assert.deepEqual(
          seen.map((s) => [s.fired.name, decoder.decode(s.fired.payload)]),
          [["waiting", "kept"]],
        );
        assert.equal(seen[0]?.fired.dueAt.getTime(), dueAt);
        const { deliveries } = await settled(namespace);
        assert.equal(deliveries, 1);
      } finally {
        await running.stop(1_000);
      }
    },
  );

  test("50 reminders across keys fire exactly once each", TIMEOUT, async () => {
    const namespace = freshNamespace();
    const reminders = await openReminders(nc, service, { namespace });
    const { seen, tally, running } = await watch(namespace);
    try {
      const keys = Array.from({ length: 50 }, (_, i) => `order-${i}`);
      const due = new Date(Date.now() + 1_000);
      await Promise.all(keys.map((key) => reminders.set(key, "tick", due, encoder.encode(key))));
      await tally.reached(50, 10_000);
      const { deliveries } = await settled(namespace);
      assert.equal(deliveries, 50, "no reminder was delivered twice");
      assert.equal(seen.length, 50);
      assert.deepEqual(new Set(seen.map((s) => s.fired.key)), new Set(keys));
      for (const { fired, atMs } of seen) {
        assert.equal(decoder.decode(fired.payload), fired.key);
        assert.ok(atMs >= due.getTime(), `${fired.key} handled before it was due`);
      }
    } finally {
      await running.stop(1_000);
    }
  });

  test("a handler that throws gets the reminder again", TIMEOUT, async () => {
    const namespace = freshNamespace();
    const reminders = await openReminders(nc, service, { namespace });
    const { seen, tally, running } = await watch(namespace, (_, attempt) => {
      if (attempt === 1) throw new Error("not now");
    });
    try {
      await reminders.set("order-5", "flaky", 300, encoder.encode("again"));
      await tally.reached(2, 10_000);
      const [first, second] = seen;
      assert.ok(first && second);
      assert.deepEqual(second.fired, first.fired, "the same reminder, the same due time");
      assert.ok(second.atMs - first.atMs >= 500, `retried after ${second.atMs - first.atMs} ms: a backoff`);
      const { deliveries } = await settled(namespace);
      assert.equal(deliveries, 2, "acked after the second attempt");
      assert.equal(seen.length, 2);
    } finally {
      await running.stop(1_000);
    }
  });

  test("a key that is no subject token travels base64url-encoded and comes back", TIMEOUT, async () => {
    const key = "user@example.org/ü 1.2";
    const token = reminderKeyToken(key);
    assert.match(token, /^=[A-Za-z0-9_-]+$/);
    assert.equal(keyOfReminderToken(token), key);
    assert.equal(reminderKeyToken("cart-7_A"), "cart-7_A", "a plain key stands as it is");
    const long = "k".repeat(129);
    assert.equal(keyOfReminderToken(reminderKeyToken(long)), long, "a plain key longer than 128 is encoded");
    assert.notEqual(reminderKeyToken(long), long);
    assert.throws(() => keyOfReminderToken("=Y2FydA"), "the encoding of a plain key is not its token");
    assert.throws(() => keyOfReminderToken("a.b"));
    assert.throws(() => keyOfReminderToken("=**"));

    const namespace = freshNamespace();
    const reminders = await openReminders(nc, service, { namespace });
    const { seen, tally, running } = await watch(namespace);
    try {
      await reminders.set(key, "encoded", 200);
      await reminders.set(long, "encoded", 200);
      await tally.reached(2, 10_000);
      assert.deepEqual(new Set(seen.map((s) => s.fired.key)), new Set([key, long]));
      await settled(namespace);
    } finally {
      await running.stop(1_000);
    }
  });

  test("keys, names and times that cannot name a reminder are invalid_argument", TIMEOUT, async () => {
    const reminders = await openReminders(nc, service, { namespace: freshNamespace() });
    for (const [key, name, due] of [
      ["", "empty-key", 1_000],
      ["k", "a.b", 1_000],
      ["k", "", 1_000],
      ["k", "n".repeat(65), 1_000],
      ["k".repeat(257), "too-long-key", 1_000],
      ["\uD800", "lone-surrogate", 1_000],
      ["k", "bad-time", new Date(Number.NaN)],
      ["k", "bad-time", Number.POSITIVE_INFINITY],
      ["k", "year-10000", new Date("+010000-01-01T00:00:00Z")],
    ] as const) {
      const err = await connectErrorOf(reminders.set(key, name, due));
      assert.equal(err.code, Code.InvalidArgument, `${name}: ${err.rawMessage}`);
    }
    assert.equal((await connectErrorOf(reminders.cancel("k", "a.b"))).code, Code.InvalidArgument);
  });

  test(
    "a server older than 2.12 is refused, naming the version, before anything is created",
    TIMEOUT,
    async () => {
      const namespace = freshNamespace();
      const err = await connectErrorOf(reconcileStreams(jsm, "2.11.9", [reminderStream({ namespace })]));
      assert.equal(err.code, Code.FailedPrecondition);
      assert.match(
        err.rawMessage,
        /allow_msg_schedules .*needs nats-server 2\.12\.0 or newer; the server is 2\.11\.9/,
      );
      await assert.rejects(jsm.streams.info(reminderStreamName(namespace)), "no stream was created");
    },
  );

  test(
    "a reminder survives a server restart; one due while the server was down fires when it is back",
    TIMEOUT,
    async () => {
      const namespace = freshNamespace();
      const reminders = await openReminders(nc, service, { namespace });
      const { seen, tally, running } = await watch(namespace);
      try {
        const whileDown = new Date(Date.now() + 300);
        const afterRestart = new Date(Date.now() + 3_000);
        await reminders.set("order-6", "while-down", whileDown, encoder.encode("down"));
        await reminders.set("order-6", "after-restart", afterRestart, encoder.encode("up"));
        const stoppedAt = Date.now();
        await server.stop();
        // Down until the first one is due (a bounded wait for the clock, not for an event).
        await eventually(() => Date.now() > whileDown.getTime() + 100, "the first reminder is due", 2_000);
        await server.start();
        const restartedAt = Date.now();
        console.log(`server down for ${restartedAt - stoppedAt} ms`);
        assert.ok(
          restartedAt < afterRestart.getTime(),
          "the restart ended before the second reminder was due",
        );
        assert.equal(seen.length, 0, "nothing fired while the server was down");

        await tally.reached(2, 15_000);
        assert.deepEqual(
          seen.map((s) => s.fired.name),
          ["while-down", "after-restart"],
        );
        const [down, up] = seen;
        assert.ok(down && up);
        assert.ok(down.atMs >= restartedAt, "the one due while down fired once the server was back");
        assert.ok(up.atMs >= afterRestart.getTime(), "the other fired at its time, not before");
        assert.equal(decoder.decode(up.fired.payload), "up");
        const { deliveries } = await settled(namespace);
        assert.equal(deliveries, 2);
        assert.equal(seen.length, 2);
      } finally {
        await running.stop(1_000);
      }
    },
  );
});
