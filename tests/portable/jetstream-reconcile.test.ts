/**
 * Streams and consumers declared in code and reconciled against a real nats-server: created when
 * missing, left alone when unchanged, updated in place when a mutable field changed, refused with
 * the field named when only a destructive migration could apply the change, and refused with the
 * version named when the server is too old for a field.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { type JetStreamManager, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { millis, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  deadLetterStream,
  eventConsumer,
  eventStream,
  jobConsumer,
  jobStream,
  reconcileConsumer,
  reconcileStreams,
} from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { UserRegisteredSchema } from "../../proto/gen/shop/v1/user_pb.ts";

const TIMEOUT = { timeout: 30_000 };

/** Asserts that `promise` rejects with failed_precondition and a message matching each pattern. */
async function refused(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `a ConnectError, got ${String(err)}`);
    assert.equal(err.code, Code.FailedPrecondition);
    for (const pattern of patterns) assert.match(err.rawMessage, pattern);
    return true;
  });
}

describe("reconciling streams and consumers", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let version: string;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
    version = nc.info?.version ?? "";
  });

  after(async () => {
    await nc?.close();
    await server?.dispose();
  });

  test("streams are created once; a second start changes nothing", TIMEOUT, async () => {
    const specs = [eventStream("shop.v1"), jobStream(FulfilOrderSchema), deadLetterStream()];
    const first = await reconcileStreams(jsm, version, specs);
    assert.deepEqual(
      first.map((r) => [r.name, r.action]),
      [
        ["EVT_shop_v1", "created"],
        ["JOB_shop_v1_FulfilOrder", "created"],
        ["DLQ", "created"],
      ],
    );
    const second = await reconcileStreams(jsm, version, specs);
    assert.deepEqual(
      second.map((r) => r.action),
      ["unchanged", "unchanged", "unchanged"],
    );
    const events = await jsm.streams.info("EVT_shop_v1");
    assert.deepEqual(events.config.subjects, ["evt.shop.v1.>"]);
    assert.equal(events.config.retention, RetentionPolicy.Limits);
    assert.equal(events.config.storage, StorageType.File);
    assert.equal(millis(events.config.duplicate_window), 2 * 60_000);
    const jobs = await jsm.streams.info("JOB_shop_v1_FulfilOrder");
    assert.equal(jobs.config.retention, RetentionPolicy.Workqueue);
    assert.deepEqual(jobs.config.subjects, ["job.shop.v1.FulfilOrder"]);
  });

  test("a declaration JetStream does not answer in time is asked again, and lands", TIMEOUT, async () => {
    // A manager that gives up after 300 ms, and a server paused for longer than that.
    const impatient = await jetstreamManager(nc, { timeout: 300 });
    const pid = server.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, "SIGSTOP");
    const resumed = new Promise<void>((resolve) =>
      setTimeout(() => {
        process.kill(pid, "SIGCONT");
        resolve();
      }, 1_200),
    );
    try {
      const [result] = await reconcileStreams(impatient, version, [eventStream("paused.v1")]);
      // A create that timed out may still have been applied once the server woke: the next
      // try then finds the stream as declared.
      assert.equal(result?.name, "EVT_paused_v1");
      assert.ok(result?.action === "created" || result?.action === "unchanged", result?.action);
    } finally {
      await resumed;
    }
    assert.deepEqual((await jsm.streams.info("EVT_paused_v1")).config.subjects, ["evt.paused.v1.>"]);
  });

  test("a namespace prefixes stream names and subjects", TIMEOUT, async () => {
    const [result] = await reconcileStreams(jsm, version, [eventStream("shop.v1", { namespace: "acme" })]);
    assert.equal(result?.name, "acme_EVT_shop_v1");
    const info = await jsm.streams.info("acme_EVT_shop_v1");
    assert.deepEqual(info.config.subjects, ["acme.evt.shop.v1.>"]);
  });

  test("a mutable field is updated in place", TIMEOUT, async () => {
    await reconcileStreams(jsm, version, [eventStream("update.v1")]);
    const [result] = await reconcileStreams(jsm, version, [
      eventStream("update.v1", { maxAgeMs: 3_600_000 }),
    ]);
    assert.equal(result?.action, "updated");
    assert.deepEqual(result?.changed, ["max_age"]);
    const info = await jsm.streams.info("EVT_update_v1");
    assert.equal(millis(info.config.max_age), 3_600_000);
  });

  test("a change of retention or storage is refused as a destructive migration", TIMEOUT, async () => {
    await reconcileStreams(jsm, version, [jobStream(FulfilOrderSchema)]);
    await refused(
      reconcileStreams(jsm, version, [
        { ...jobStream(FulfilOrderSchema), retention: RetentionPolicy.Limits },
      ]),
      /JOB_shop_v1_FulfilOrder/,
      /retention/,
      /destructive migration/,
    );
    await refused(
      reconcileStreams(jsm, version, [jobStream(FulfilOrderSchema, { storage: StorageType.Memory })]),
      /storage/,
      /destructive migration/,
    );
    const info = await jsm.streams.info("JOB_shop_v1_FulfilOrder");
    assert.equal(info.config.retention, RetentionPolicy.Workqueue, "the stream was left as it was");
    assert.equal(info.config.storage, StorageType.File);
  });

  test("a field newer than the server is refused, naming the version it needs", TIMEOUT, async () => {
    const withTtl = { ...eventStream("ttl.v1"), allow_msg_ttl: true };
    await refused(reconcileStreams(jsm, "2.10.22", [withTtl]), /allow_msg_ttl/, /2\.11\.0/, /2\.10\.22/);
    await assert.rejects(jsm.streams.info("EVT_ttl_v1"), "nothing was created");
    // The connected server (>= 2.11) has it.
    const [created] = await reconcileStreams(jsm, version, [withTtl]);
    assert.equal(created?.action, "created");
    assert.equal((await jsm.streams.info("EVT_ttl_v1")).config.allow_msg_ttl, true);
  });

  test("consumers are created once, updated in place, and refused when immutable", TIMEOUT, async () => {
    await reconcileStreams(jsm, version, [eventStream("shop.v1")]);
    const spec = eventConsumer("email", UserRegisteredSchema, { ackWaitMs: 2_000, maxAttempts: 3 });
    assert.equal((await reconcileConsumer(jsm, version, "EVT_shop_v1", spec)).action, "created");
    assert.equal((await reconcileConsumer(jsm, version, "EVT_shop_v1", spec)).action, "unchanged");

    const info = await jsm.consumers.info("EVT_shop_v1", "email_UserRegistered");
    assert.equal(info.config.filter_subject, "evt.shop.v1.UserRegistered.*");
    assert.equal(info.config.max_deliver, 4, "one delivery more than the handler attempts");
    assert.equal(millis(info.config.ack_wait ?? 0), 2_000);

    const longer = eventConsumer("email", UserRegisteredSchema, { ackWaitMs: 5_000, maxAttempts: 3 });
    const updated = await reconcileConsumer(jsm, version, "EVT_shop_v1", longer);
    assert.equal(updated.action, "updated");
    assert.deepEqual(updated.changed, ["ack_wait"]);

    const fromNew = eventConsumer("email", UserRegisteredSchema, {
      ackWaitMs: 5_000,
      maxAttempts: 3,
      deliverPolicy: "new",
    });
    await refused(
      reconcileConsumer(jsm, version, "EVT_shop_v1", fromNew),
      /email_UserRegistered/,
      /deliver_policy/,
      /destructive migration/,
    );
  });

  test("a consumer field newer than the server is refused", TIMEOUT, async () => {
    await reconcileStreams(jsm, version, [jobStream(FulfilOrderSchema)]);
    const pinned = { ...jobConsumer(FulfilOrderSchema), priority_policy: "pinned_client" as const };
    await refused(
      reconcileConsumer(jsm, "2.10.0", "JOB_shop_v1_FulfilOrder", pinned),
      /priority_policy/,
      /2\.11\.0/,
    );
    await assert.rejects(jsm.consumers.info("JOB_shop_v1_FulfilOrder", "FulfilOrder"), "nothing was created");
  });
});
