/**
 * Publishing events and enqueueing jobs against a real nats-server: subjects and keys, message
 * ids and the duplicate window, metadata in headers, deadlines on jobs and never on events
 * (docs/adr/0017-facts-never-expire.md), and the ConnectErrors of a publish that no stream takes
 * or that is too large.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { enqueueJob, type PublishOptions, publishEvent } from "troupe";
import { eventStream, jobStream, reconcileStreams } from "troupe/jetstream";
import { Header } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { UserRegisteredSchema } from "../../proto/gen/shop/v1/user_pb.ts";

const TIMEOUT = { timeout: 30_000 };

async function rejectsWith(promise: Promise<unknown>, code: Code, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `a ConnectError, got ${String(err)}`);
    assert.equal(err.code, code, `code ${Code[err.code]}: ${err.rawMessage}`);
    assert.match(err.rawMessage, pattern);
    return true;
  });
}

describe("publishing events and jobs", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;

  before(async () => {
    server = await startNatsServer({ maxPayloadBytes: 64 * 1024 });
    nc = await connect({ servers: server.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    const version = nc.info?.version ?? "";
    await reconcileStreams(jsm, version, [
      eventStream("shop.v1"),
      { ...jobStream(FulfilOrderSchema), max_msg_size: 1024 },
    ]);
  });

  after(async () => {
    await nc?.close();
    await server?.dispose();
  });

  test("an event is stored under its key field, with its id and binary body", TIMEOUT, async () => {
    const ack = await publishEvent(js, UserRegisteredSchema, { userId: "u-1", email: "a@example.com" });
    assert.equal(ack.stream, "EVT_shop_v1");
    assert.equal(ack.duplicate, false);
    const stored = await jsm.streams.getMessage("EVT_shop_v1", { seq: ack.seq });
    assert.ok(stored);
    assert.equal(stored.subject, "evt.shop.v1.UserRegistered.u-1");
    assert.equal(stored.header.get(Header.natsMsgId), ack.id);
    assert.equal(stored.header.get(Header.contentType), "", "binary protobuf carries no content type");
    assert.equal(fromBinary(UserRegisteredSchema, stored.data).email, "a@example.com");
  });

  test("an explicit key wins; an empty key is the `_` token", TIMEOUT, async () => {
    const keyed = await publishEvent(js, UserRegisteredSchema, { userId: "u-2" }, { key: "tenant-7" });
    assert.equal(
      (await jsm.streams.getMessage("EVT_shop_v1", { seq: keyed.seq }))?.subject,
      "evt.shop.v1.UserRegistered.tenant-7",
    );
    const unkeyed = await publishEvent(js, UserRegisteredSchema, {});
    assert.equal(
      (await jsm.streams.getMessage("EVT_shop_v1", { seq: unkeyed.seq }))?.subject,
      "evt.shop.v1.UserRegistered._",
    );
  });

  test("the same id published twice is stored once", TIMEOUT, async () => {
    const first = await publishEvent(js, UserRegisteredSchema, { userId: "u-3" }, { id: "register-u-3" });
    const second = await publishEvent(js, UserRegisteredSchema, { userId: "u-3" }, { id: "register-u-3" });
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.seq, first.seq);
    const info = await jsm.streams.info("EVT_shop_v1", { subjects_filter: "evt.shop.v1.UserRegistered.u-3" });
    assert.equal(info.state.subjects?.["evt.shop.v1.UserRegistered.u-3"], 1);
  });

  test(
    "a job's deadline and metadata travel as headers; protocol headers in metadata are dropped",
    TIMEOUT,
    async () => {
      const before = Date.now();
      const ack = await enqueueJob(
        js,
        FulfilOrderSchema,
        { orderId: "o-deadline" },
        { deadlineMs: 60_000, headers: { "x-tenant": "acme", [Header.deadline]: "1" } },
      );
      const stored = await jsm.streams.getMessage("JOB_shop_v1_FulfilOrder", { seq: ack.seq });
      assert.ok(stored);
      assert.equal(stored.header.get("x-tenant"), "acme");
      const deadline = Number(stored.header.get(Header.deadline));
      assert.ok(deadline >= before + 60_000 && deadline <= Date.now() + 60_000, `deadline ${deadline}`);
      assert.equal(stored.header.values(Header.deadline).length, 1, "the metadata's deadline was dropped");
    },
  );

  test(
    "an event never carries a deadline: none by default, none through metadata, deadlineMs refused",
    TIMEOUT,
    async () => {
      const ack = await publishEvent(
        js,
        UserRegisteredSchema,
        { userId: "u-4" },
        { headers: { "x-tenant": "acme", [Header.deadline]: "1" } },
      );
      const stored = await jsm.streams.getMessage("EVT_shop_v1", { seq: ack.seq });
      assert.ok(stored);
      assert.equal(stored.header.get("x-tenant"), "acme");
      assert.equal(stored.header.values(Header.deadline).length, 0, "no troupe-deadline on an event");
      // The type has no deadlineMs; a caller without types is refused, not silently obeyed.
      const untyped = { deadlineMs: 60_000 } as Partial<PublishOptions>;
      await rejectsWith(
        publishEvent(js, UserRegisteredSchema, { userId: "u-4b" }, untyped),
        Code.InvalidArgument,
        /an event never expires/,
      );
      const info = await jsm.streams.info("EVT_shop_v1", {
        subjects_filter: "evt.shop.v1.UserRegistered.u-4b",
      });
      assert.equal(info.state.subjects?.["evt.shop.v1.UserRegistered.u-4b"] ?? 0, 0, "nothing was stored");
    },
  );

  test("a job goes to its work queue with its key as a header", TIMEOUT, async () => {
    const ack = await enqueueJob(js, FulfilOrderSchema, { orderId: "o-1" }, { key: "o-1" });
    assert.equal(ack.stream, "JOB_shop_v1_FulfilOrder");
    const stored = await jsm.streams.getMessage("JOB_shop_v1_FulfilOrder", { seq: ack.seq });
    assert.equal(stored?.subject, "job.shop.v1.FulfilOrder");
    assert.equal(stored?.header.get(Header.key), "o-1");
  });

  test("a key that is not one subject token is invalid_argument", TIMEOUT, async () => {
    await rejectsWith(
      publishEvent(js, UserRegisteredSchema, { userId: "a.b" }),
      Code.InvalidArgument,
      /a\.b/,
    );
    await rejectsWith(enqueueJob(js, FulfilOrderSchema, {}, { key: "x y" }), Code.InvalidArgument, /x y/);
  });

  test("a publish no stream takes is unavailable, with a message that says so", TIMEOUT, async () => {
    await rejectsWith(
      publishEvent(js, UserRegisteredSchema, { userId: "u-5" }, { namespace: "nowhere" }),
      Code.Unavailable,
      /no JetStream stream took nowhere\.evt\.shop\.v1\.UserRegistered\.u-5/,
    );
  });

  test("an acknowledgement that does not come in time is deadline_exceeded", TIMEOUT, async () => {
    // Something listens on the subject but never answers, as a stalled stream would.
    const silent = nc.subscribe("stalled.evt.shop.v1.UserRegistered.>");
    const started = performance.now();
    await rejectsWith(
      publishEvent(js, UserRegisteredSchema, { userId: "u-7" }, { namespace: "stalled", timeoutMs: 200 }),
      Code.DeadlineExceeded,
      /JetStream did not acknowledge stalled\.evt\.shop\.v1\.UserRegistered\.u-7 in time/,
    );
    assert.ok(performance.now() - started >= 190, "it waited for the timeout");
    silent.unsubscribe();
    // The client's own timeout applies when the publish names none.
    const quick = jetstream(nc, { timeout: 150 });
    const silentAgain = nc.subscribe("stalled.evt.shop.v1.UserRegistered.>");
    await rejectsWith(
      publishEvent(quick, UserRegisteredSchema, { userId: "u-8" }, { namespace: "stalled" }),
      Code.DeadlineExceeded,
      /did not acknowledge/,
    );
    silentAgain.unsubscribe();
  });

  test(
    "an id still in process elsewhere is asked about again: a duplicate ack, or unavailable when time is up",
    TIMEOUT,
    async () => {
      // A stand-in for a clustered stream whose leader is still storing another publish of the id:
      // it refuses the first two attempts (JSStreamDuplicateMessageConflict), then answers as the
      // stream does once the first publish is stored.
      const inProcess = JSON.stringify({
        error: { code: 409, err_code: 10158, description: "duplicate message id is in process" },
      });
      const attempts: string[] = [];
      const leader = nc.subscribe("inprocess.evt.shop.v1.UserRegistered.>", {
        callback: (_err, msg) => {
          attempts.push(msg.headers?.get(Header.natsMsgId) ?? "");
          msg.respond(
            attempts.length <= 2 ? inProcess : JSON.stringify({ stream: "EVT", seq: 7, duplicate: true }),
          );
        },
      });
      const ack = await publishEvent(
        js,
        UserRegisteredSchema,
        { userId: "u-9" },
        { namespace: "inprocess", id: "order-9" },
      );
      assert.deepEqual(ack, { stream: "EVT", seq: 7, duplicate: true, id: "order-9" });
      assert.deepEqual(attempts, ["order-9", "order-9", "order-9"], "the same publish, asked three times");
      leader.unsubscribe();

      // A leader that keeps refusing: unavailable (callers retry it) once the publish's time is up.
      const stuck = nc.subscribe("stuck.evt.shop.v1.UserRegistered.>", {
        callback: (_err, msg) => {
          msg.respond(inProcess);
        },
      });
      const started = performance.now();
      await rejectsWith(
        publishEvent(
          js,
          UserRegisteredSchema,
          { userId: "u-10" },
          { namespace: "stuck", id: "order-10", timeoutMs: 300 },
        ),
        Code.Unavailable,
        /still storing an earlier publish of message id "order-10" on stuck\.evt\.shop\.v1\.UserRegistered\.u-10/,
      );
      const waited = performance.now() - started;
      assert.ok(
        waited >= 100 && waited <= 1_000,
        `gave up after ${Math.round(waited)} ms, within its 300 ms`,
      );
      stuck.unsubscribe();

      // A leader that refuses once and then goes silent: the time runs out on the asking-again,
      // and what the caller last learnt is that the id is in process: unavailable, not a deadline.
      let asked = 0;
      const silent = nc.subscribe("silent.evt.shop.v1.UserRegistered.>", {
        callback: (_err, msg) => {
          if (asked++ === 0) msg.respond(inProcess);
        },
      });
      await rejectsWith(
        publishEvent(
          js,
          UserRegisteredSchema,
          { userId: "u-11" },
          { namespace: "silent", id: "order-11", timeoutMs: 300 },
        ),
        Code.Unavailable,
        /still storing an earlier publish of message id "order-11"/,
      );
      assert.equal(asked, 2, "asked once more after the refusal, then waited out its time");
      silent.unsubscribe();
    },
  );

  test("a message above max_payload or the stream's limit is resource_exhausted", TIMEOUT, async () => {
    await rejectsWith(
      publishEvent(js, UserRegisteredSchema, { userId: "u-6", displayName: "x".repeat(100_000) }),
      Code.ResourceExhausted,
      /max_payload/,
    );
    await rejectsWith(
      enqueueJob(js, FulfilOrderSchema, { orderId: "o-2", reservationId: "r".repeat(2_000) }),
      Code.ResourceExhausted,
      /maximum message size/,
    );
  });
});
