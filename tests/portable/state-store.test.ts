/**
 * Durable actor state (runtime/jetstream/state-store.ts) against a real nats-server with
 * JetStream: revisions, conditional writes, read-modify-write under contention from two
 * connections, watches, a server restart, and stored bytes that are not a message of the schema.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Int32ValueSchema, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, openStateStore } from "troupe";
import { type StateChange, stateBucketName, stateKeyOf } from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { UserSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };

const user = (id: string, displayName = "Ada") =>
  create(UserSchema, { id, email: `${id}@example.org`, displayName, createdAt: timestampNow() });

describe("state store", () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  let buckets = 0;
  /** A bucket no other test uses. */
  const freshBucket = () => `test_${++buckets}`;

  const connection = async () => {
    // Reconnects quickly, for the restart test.
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    connections.push(nc);
    return nc;
  };

  before(async () => {
    server = await startNatsServer();
  });

  after(async () => {
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  test("put returns the new revision; get returns the value and its revision", TIMEOUT, async () => {
    const users = await openStateStore(await connection(), { bucket: freshBucket(), schema: UserSchema });
    assert.equal(await users.get("u-1"), undefined, "an unknown key has no value");

    const first = await users.put("u-1", user("u-1"));
    const entry = await users.get("u-1");
    assert.equal(entry?.revision, first);
    assert.equal(entry?.key, "u-1");
    assert.equal(entry?.value.displayName, "Ada");
    assert.equal(entry?.value.$typeName, "shop.v1.User", "values are messages of the schema");

    const second = await users.put("u-1", { ...user("u-1"), displayName: "Ada L." });
    assert.ok(second > first, "every write has a higher revision");
    assert.equal((await users.get("u-1"))?.value.displayName, "Ada L.");

    await users.put("u-0", user("u-0"));
    await users.put("a.b", user("a.b"));
    assert.deepEqual(await users.keys(), ["a.b", "u-0", "u-1"], "keys, sorted");

    await users.delete("u-0");
    assert.equal(await users.get("u-0"), undefined, "a deleted key has no value");
    assert.deepEqual(await users.keys(), ["a.b", "u-1"]);
  });

  test("claim: of concurrent first writers one wins and every caller gets its value", TIMEOUT, async () => {
    const bucket = freshBucket();
    const [a, b] = await Promise.all([
      openStateStore(await connection(), { bucket, schema: UserSchema }),
      openStateStore(await connection(), { bucket, schema: UserSchema }),
    ]);
    const claims = await Promise.all(
      ["Ada", "Grace", "Edsger", "Barbara"].map((displayName, i) =>
        (i % 2 === 0 ? a : b).claim("u-1", user("u-1", displayName)),
      ),
    );
    const winner = claims[0]?.displayName;
    assert.ok(winner !== undefined && claims.every((c) => c.displayName === winner), "all callers agree");
    const stored = await a.get("u-1");
    assert.equal(stored?.value.displayName, winner);
    assert.equal(stored?.revision, 1, "written once");
  });

  test("a write at the wrong expected revision is aborted and changes nothing", TIMEOUT, async () => {
    const bucket = freshBucket();
    const users = await openStateStore(await connection(), { bucket, schema: UserSchema });
    const revision = await users.put("u-1", user("u-1"));
    const later = await users.put("u-1", user("u-1", "Ada 2"), { expectedRevision: revision });
    assert.ok(later > revision, "the expected revision matched");

    const stale = await connectErrorOf(users.put("u-1", user("u-1", "lost"), { expectedRevision: revision }));
    assert.equal(stale.code, Code.Aborted);
    assert.match(stale.rawMessage, new RegExp(`state bucket ${bucket}, key "u-1"`), "names bucket and key");
    assert.match(
      stale.rawMessage,
      new RegExp(`expected revision ${revision}, but it is at revision ${later}`),
    );
    assert.equal((await users.get("u-1"))?.value.displayName, "Ada 2");

    const missing = await connectErrorOf(users.put("u-2", user("u-2"), { expectedRevision: 7 }));
    assert.equal(missing.code, Code.Aborted);
    assert.match(missing.rawMessage, /expected revision 7, but it does not exist/);

    const deleteStale = await connectErrorOf(users.delete("u-1", { expectedRevision: revision }));
    assert.equal(deleteStale.code, Code.Aborted);
    await users.delete("u-1", { expectedRevision: later });
    assert.equal(await users.get("u-1"), undefined);
  });

  test(
    "expectedRevision 0 creates only: a second create is aborted, a deleted key can be created",
    TIMEOUT,
    async () => {
      const users = await openStateStore(await connection(), { bucket: freshBucket(), schema: UserSchema });
      const created = await users.put("u-1", user("u-1"), { expectedRevision: 0 });
      const again = await connectErrorOf(users.put("u-1", user("u-1", "Eve"), { expectedRevision: 0 }));
      assert.equal(again.code, Code.Aborted);
      assert.match(
        again.rawMessage,
        new RegExp(`expected it not to exist, but it is at revision ${created}`),
      );
      assert.equal((await users.get("u-1"))?.value.displayName, "Ada", "the first value stays");

      await users.delete("u-1");
      const recreated = await users.put("u-1", user("u-1", "Bo"), { expectedRevision: 0 });
      assert.ok(recreated > created);
      assert.equal((await users.get("u-1"))?.value.displayName, "Bo");
    },
  );

  test("update() under contention from two connections loses no update", TIMEOUT, async () => {
    const bucket = freshBucket();
    const [a, b] = await Promise.all(
      [await connection(), await connection()].map((nc) =>
        openStateStore(nc, { bucket, schema: Int32ValueSchema, maxUpdateAttempts: 50 }),
      ),
    );
    assert.ok(a && b);
    const increment = (store: typeof a) =>
      store.update("counter", (current) => ({ value: (current?.value ?? 0) + 1 }));
    const results = await Promise.all([
      ...Array.from({ length: 50 }, () => increment(a)),
      ...Array.from({ length: 50 }, () => increment(b)),
    ]);
    assert.equal((await a.get("counter"))?.value.value, 100, "100 increments, none lost");
    assert.deepEqual(
      results.map((entry) => entry?.value.value).sort((x, y) => (x ?? 0) - (y ?? 0)),
      Array.from({ length: 100 }, (_, i) => i + 1),
      "each increment saw the one before it",
    );

    // An updater that returns undefined writes nothing.
    const unchanged = await a.update("counter", () => undefined);
    assert.equal(unchanged?.value.value, 100);
    assert.equal(await a.update("nothing-here", () => undefined), undefined);
  });

  test("update() gives up with aborted after maxUpdateAttempts", TIMEOUT, async () => {
    const bucket = freshBucket();
    const nc = await connection();
    const store = await openStateStore(nc, { bucket, schema: Int32ValueSchema, maxUpdateAttempts: 2 });
    const rival = await openStateStore(nc, { bucket, schema: Int32ValueSchema });
    // A rival write on the same connection reaches the server before the update's own write, so
    // every attempt finds the key changed since it was read.
    const rivalWrites: Promise<number>[] = [];
    const error = await connectErrorOf(
      store.update("k", (current) => {
        rivalWrites.push(rival.put("k", { value: -1 }));
        return { value: (current?.value ?? 0) + 1 };
      }),
    );
    await Promise.all(rivalWrites);
    assert.equal(error.code, Code.Aborted);
    assert.match(error.rawMessage, /key "k".*gave up after 2 attempts/);
    assert.equal(rivalWrites.length, 2, "one read-modify-write per attempt");
    assert.equal((await store.get("k"))?.value.value, -1, "the update wrote nothing");
  });

  test("watch sees the current values, then puts and deletes as they happen", TIMEOUT, async () => {
    const bucket = freshBucket();
    const writer = await openStateStore(await connection(), { bucket, schema: UserSchema });
    const reader = await openStateStore(await connection(), { bucket, schema: UserSchema });
    const existing = await writer.put("u-1", user("u-1"));

    const all = await reader.watch();
    const some = await reader.watch(["u-2", "u-3"], { updatesOnly: true });
    const put2 = await writer.put("u-2", user("u-2"));
    await writer.put("u-9", user("u-9"));
    await writer.delete("u-2");
    const put3 = await writer.put("u-3", user("u-3", "Cy"));

    const take = async (watch: AsyncIterable<StateChange<typeof UserSchema>>, n: number) => {
      const seen: [string, string | undefined, number][] = [];
      for await (const change of watch) {
        seen.push([change.key, change.value?.displayName, change.revision]);
        if (seen.length === n) break;
      }
      return seen;
    };
    const everything = await take(all, 5);
    assert.deepEqual(
      everything.map(([key, name]) => [key, name]),
      [
        ["u-1", "Ada"],
        ["u-2", "Ada"],
        ["u-9", "Ada"],
        ["u-2", undefined],
        ["u-3", "Cy"],
      ],
      "the current value first, then every change; a delete has no value",
    );
    assert.equal(everything[0]?.[2], existing);
    const chosen = await take(some, 3);
    assert.deepEqual(chosen, [
      ["u-2", "Ada", put2],
      ["u-2", undefined, put2 + 2],
      ["u-3", "Cy", put3],
    ]);
    all.stop();
    some.stop();
  });

  test("forget leaves nothing of a key, where delete leaves a marker", TIMEOUT, async () => {
    const bucket = freshBucket();
    const nc = await connection();
    const outbox = await openStateStore(nc, { bucket, schema: UserSchema });
    const jsm = await jetstreamManager(nc);
    const subjectsHeld = async () =>
      Object.keys(
        (await jsm.streams.info(`KV_${bucket}`, { subjects_filter: ">" })).state.subjects ?? {},
      ).sort();
    for (const id of ["u-1", "u-2", "u-3"]) await outbox.put(id, user(id));
    await outbox.put("u-1", user("u-1", "Ada 2"));

    await outbox.delete("u-2");
    await outbox.forget("u-1");
    await outbox.forget("u-never"); // a key without a value is no error
    assert.deepEqual(await outbox.keys(), ["u-3"]);
    assert.equal(await outbox.get("u-1"), undefined);
    assert.deepEqual(
      await subjectsHeld(),
      [`$KV.${bucket}.u-2`, `$KV.${bucket}.u-3`],
      "the deleted key's marker stays; nothing of the forgotten key does",
    );
    await outbox.put("u-1", user("u-1"), { expectedRevision: 0 });
    assert.equal((await outbox.get("u-1"))?.value.displayName, "Ada", "a forgotten key can be created again");
  });

  test("keys() ends when a key it counted is forgotten before it is read", TIMEOUT, async () => {
    // nats.js's kv.keys() waited for ever in this race (about one listing in five here): a sweep
    // that lists an outbox while another instance forgets an entry of it stalled for good.
    const nc = await connection();
    const outbox = await openStateStore(nc, { bucket: freshBucket(), schema: UserSchema });
    for (let i = 0; i < 16; i++) {
      const id = `u-${i}`;
      await outbox.put(id, user(id));
      const forgetting = (async () => {
        await new Promise((resolve) => setTimeout(resolve, i % 4));
        await outbox.forget(id);
      })();
      const started = performance.now();
      const keys = await withTimeout(outbox.keys(), 5_000, () => `listing ${i} still waiting`);
      await forgetting;
      assert.ok(performance.now() - started < 5_000);
      assert.ok(
        keys.every((k) => k === id),
        `listing ${i}: ${keys}`,
      );
    }
    await outbox.put("kept", user("kept"));
    assert.deepEqual(await outbox.keys(), ["kept"]);
  });

  test("values survive a server restart", { timeout: 60_000 }, async () => {
    const bucket = freshBucket();
    const nc = await connection();
    const users = await openStateStore(nc, { bucket, schema: UserSchema });
    const revision = await users.put("u-1", user("u-1", "Durable"));

    const reconnected = (async () => {
      for await (const status of nc.status()) if (status.type === "reconnect") return;
    })();
    await server.restart();
    await reconnected;

    // The store on the reconnected connection, and one opened afresh, both read the value.
    assert.equal((await users.get("u-1"))?.value.displayName, "Durable");
    const reopened = await openStateStore(await connection(), { bucket, schema: UserSchema });
    const entry = await reopened.get("u-1");
    assert.deepEqual([entry?.value.displayName, entry?.revision], ["Durable", revision]);
    assert.ok((await users.put("u-1", user("u-1", "Still here"), { expectedRevision: revision })) > revision);
  });

  test(
    "a stored value that is not a message of the schema is data_loss, naming bucket and key",
    TIMEOUT,
    async () => {
      const bucket = freshBucket();
      const nc = await connection();
      const counters = await openStateStore(nc, { bucket, schema: Int32ValueSchema });
      // A field-1 varint whose value is missing: no Int32Value decodes from it.
      const kv = await new Kvm(nc).open(bucket);
      await kv.put("broken", new Uint8Array([0x08]));

      // One at a time: a call started before the previous one is awaited could reject with no
      // handler attached yet, which Deno reports as an uncaught error.
      for (const call of [
        () => counters.get("broken"),
        () => counters.update("broken", () => ({ value: 1 })),
        async () => {
          for await (const _ of await counters.watch(["broken"])) assert.fail("no change expected");
        },
      ]) {
        const error = await connectErrorOf(call());
        assert.equal(error.code, Code.DataLoss);
        assert.match(
          error.rawMessage,
          new RegExp(
            `state bucket ${bucket}, key "broken": the stored value is not a valid google.protobuf.Int32Value`,
          ),
        );
      }
      // Overwriting repairs it.
      await counters.put("broken", { value: 3 });
      assert.equal((await counters.get("broken"))?.value.value, 3);
    },
  );

  test("names: buckets are validated and namespaced; keys are checked", TIMEOUT, async () => {
    const nc = await connection();
    assert.equal(stateBucketName("users"), "users");
    assert.equal(stateBucketName("users", "acme"), "acme_users");
    assert.equal(stateBucketName("users", "acme.prod"), "acme_prod_users");
    assert.throws(() => stateBucketName("us.ers"), /must match/);
    assert.throws(() => stateBucketName("users", "ac me"), /namespace/);
    await assert.rejects(openStateStore(nc, { bucket: "no spaces", schema: UserSchema }), /must match/);

    const store = await openStateStore(nc, { bucket: "users", namespace: "acme", schema: UserSchema });
    assert.equal(store.bucket, "acme_users");
    const jsm = await jetstreamManager(nc);
    assert.equal((await jsm.streams.info("KV_acme_users")).config.name, "KV_acme_users");

    for (const key of ["", "a b", "a..b", ".a", "a.", "*", "a>", "_kv_x"]) {
      const error = await connectErrorOf(store.get(key));
      assert.equal(error.code, Code.InvalidArgument, `key ${JSON.stringify(key)}`);
    }
    // Any text becomes a key through stateKeyOf.
    const key = stateKeyOf("Ada.Lovelace+shop@example.org");
    await store.put(key, user("u-1"));
    assert.equal((await store.get(key))?.value.id, "u-1");
    assert.doesNotMatch(key, /[.+@]/);
  });

  test(
    "limits: history, TTL and replicas follow the options when a bucket is opened again",
    TIMEOUT,
    async () => {
      const bucket = freshBucket();
      const nc = await connection();
      await openStateStore(nc, { bucket, schema: UserSchema });
      await openStateStore(nc, { bucket, schema: UserSchema, history: 5, ttlMs: 60_000 });
      const { config } = await (await jetstreamManager(nc)).streams.info(`KV_${bucket}`);
      assert.equal(config.max_msgs_per_subject, 5);
      assert.equal(config.max_age, 60_000 * 1_000_000);
      await assert.rejects(openStateStore(nc, { bucket, schema: UserSchema, history: 0 }), /history/);
    },
  );

  test("a server without JetStream is failed_precondition, saying so", TIMEOUT, async () => {
    const plain = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: plain.url });
    try {
      const error = await connectErrorOf(openStateStore(nc, { bucket: "users", schema: UserSchema }));
      assert.equal(error.code, Code.FailedPrecondition);
      assert.match(error.rawMessage, /state bucket users: JetStream is not enabled/);
    } finally {
      await nc.close();
      await plain.dispose();
    }
  });
});
