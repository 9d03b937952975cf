/**
 * What an actor's context gives its code (docs/guide/actor-context.md): state buckets in the
 * actor's namespace with their create-once and read-modify-write primitives, timers whose runs
 * never overlap and stop at drain, nested calls that inherit the handled call's deadline and
 * cancellation without being told, and `publish` typed by what the actor declares.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  type ActorContext,
  connect,
  createNatsTransport,
  defineActor,
  implement,
  type Logger,
  openStateStore,
  type StateStore,
  serveActor,
  silentLogger,
} from "troupe";
import type { OnceEffect } from "troupe/jetstream";
import { startNatsServer } from "troupe/testing";
import { OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserRegisteredSchema, UserSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { onceOf } from "../../runtime/jetstream/state-once.ts";
import { deferred, withTimeout, work } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };

test("ctx.state opens a bucket in the actor's namespace; create, claim and update", TIMEOUT, async () => {
  await using server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  let users: StateStore<typeof UserSchema> | undefined;
  const actor = await serveActor(
    nc,
    defineActor({
      name: "keeper",
      version: "1.0.0",
      description: "keeps users",
      state: ["people"],
      async setup(ctx) {
        users = await ctx.state("people", UserSchema, { history: 2 });
      },
    }),
    { namespace: "ctx", logger: silentLogger },
  );
  try {
    assert.ok(users);
    assert.equal(users.bucket, "ctx_people");
    const info = await (await jetstreamManager(nc)).streams.info("KV_ctx_people");
    assert.equal(info.config.max_msgs_per_subject, 2, "the options reach the bucket");
    assert.equal(info.config.allow_direct, false, "reads go to the leader (ADR 0020)");

    const ada = create(UserSchema, { id: "u-1", displayName: "Ada" });
    const revision = await users.create("u-1", ada);
    assert.equal(typeof revision, "number");
    assert.equal(await users.create("u-1", { id: "u-1", displayName: "Bob" }), undefined, "second loses");
    assert.equal((await users.get("u-1"))?.value.displayName, "Ada");
    assert.equal((await users.claim("u-1", create(UserSchema, { id: "u-1" }))).displayName, "Ada");
    await users.delete("u-1");
    assert.equal(typeof (await users.create("u-1", ada)), "number", "a deleted key can be created again");

    // An updater may await (here: another read), and runs again when another writer won.
    let attempts = 0;
    const updated = await users.update("u-1", async (current) => {
      attempts++;
      if (attempts === 1) await users?.put("u-1", { id: "u-1", displayName: "Cy" }); // a concurrent write
      const seen = (await users?.get("u-1"))?.value.displayName;
      return { id: "u-1", displayName: `${current?.displayName}+${seen}` };
    });
    assert.equal(attempts, 2, "the first attempt lost to the concurrent write");
    assert.equal(updated?.value.displayName, "Cy+Cy");
  } finally {
    await actor.drain(1_000);
    await nc.close();
  }
});

test("store.mirror(): a copy of the bucket that follows every writer, and its changes", TIMEOUT, async () => {
  await using server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  const other = await connect({ servers: server.url });
  try {
    const store = await openStateStore(nc, { bucket: "mirrored", schema: UserSchema });
    const writer = await openStateStore(other, { bucket: "mirrored", schema: UserSchema });
    await store.put("b", { id: "b" });
    await store.put("a", { id: "a" });
    const copy = await store.mirror();
    assert.deepEqual(
      copy.values().map((u) => u.id),
      ["a", "b"],
      "what the bucket held, in key order",
    );

    const reading = new AbortController();
    const changes = copy.changes(reading.signal)[Symbol.asyncIterator]();
    await writer.put("c", { id: "c", displayName: "C" }); // another instance's write
    const written = await store.update("a", () => ({ id: "a", displayName: "A" }));
    assert.ok(written);
    copy.apply(written); // read your own write before the watch brings it
    assert.equal(copy.get("a")?.displayName, "A");
    await writer.delete("b");
    const seen: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const { value } = await withTimeout(changes.next(), 5_000, () => `change ${i}`);
      seen.push([value?.key, value?.value?.displayName, value?.previous?.displayName]);
    }
    assert.deepEqual(seen.slice(1), [
      ["a", "A", ""],
      ["b", undefined, ""],
    ]);
    assert.deepEqual(seen[0], ["c", "C", undefined], "another writer's change, the first");
    assert.deepEqual(
      copy.values().map((u) => u.id),
      ["a", "c"],
    );
    const waiting = changes.next();
    reading.abort();
    assert.equal((await waiting).done, true, "a pending read ends with the signal");
    copy.close();
    assert.equal(await copy.stopped, undefined, "closed, not failed");
  } finally {
    await other.close();
    await nc.close();
  }
});

test(
  "store.once(): one effect per key across instances; a failure frees the key; an abandoned claim is taken over",
  TIMEOUT,
  async () => {
    await using server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    const other = await connect({ servers: server.url });
    try {
      const open = (conn: typeof nc) => openStateStore(conn, { bucket: "effects", schema: UserSchema });
      const [a, b] = await Promise.all([open(nc), open(other)]);
      const runs: string[] = [];
      /** A User stands for the record: `id` the claim, `displayName` "done" once the effect ran. */
      const effect = (fail = false): OnceEffect<typeof UserSchema> => ({
        claim: (abandoned) => ({ id: abandoned?.id ?? `claim-${runs.length}`, createdAt: timestampNow() }),
        claimedAt: (user) =>
          user.displayName === "done" ? undefined : timestampMs(user.createdAt ?? timestampNow()),
        async run(claim) {
          runs.push(claim.id);
          await work(20);
          if (fail) throw new Error("test: the effect fails");
          return { ...claim, displayName: "done" };
        },
      });

      // Two instances and two requests of one instance, at once: one effect, one result for all.
      const results = await Promise.all([
        a.once("k1", effect()),
        a.once("k1", effect()),
        b.once("k1", effect()),
      ]);
      assert.equal(runs.length, 1, "the effect ran once");
      assert.deepEqual(
        results.map((r) => [r.id, r.displayName]),
        [
          [runs[0], "done"],
          [runs[0], "done"],
          [runs[0], "done"],
        ],
      );
      assert.equal((await b.once("k1", effect())).id, runs[0], "a later request answers with the result");

      await assert.rejects(a.once("k2", effect(true)), /the effect fails/);
      assert.equal(await a.get("k2"), undefined, "a failed effect gives the key back");
      assert.equal((await a.once("k2", effect())).displayName, "done", "so a retry runs it");

      // A claim whose holder died a minute ago: taken over, and run as the same claim.
      const minuteAgo = timestampFromMs(Date.now() - 60_000);
      await a.put("k3", { id: "claim-dead", createdAt: minuteAgo });
      const taken = await b.once("k3", effect(), { leaseMs: 30_000 });
      assert.deepEqual([taken.id, taken.displayName, runs.at(-1)], ["claim-dead", "done", "claim-dead"]);
    } finally {
      await other.close();
      await nc.close();
    }
  },
);

test(
  "store.once(): a result the bucket does not take at first is recorded on a later try",
  TIMEOUT,
  async () => {
    await using server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    try {
      const store = await openStateStore(nc, { bucket: "effects", schema: UserSchema });
      // The bucket refuses the first `refusals` writes of a result as an outage would.
      let refusals = 0;
      let tries = 0;
      const flaky: typeof store = {
        ...store,
        put: (key, value, options) =>
          value.displayName === "done" && ++tries > 0 && refusals-- > 0
            ? Promise.reject(new ConnectError("test: the bucket is away", Code.Unavailable))
            : store.put(key, value, options),
      };
      const once = onceOf(flaky);
      let runs = 0;
      const effect: OnceEffect<typeof UserSchema> = {
        claim: () => ({ id: `claim-${runs}`, createdAt: timestampNow() }),
        claimedAt: (user) =>
          user.displayName === "done" ? undefined : timestampMs(user.createdAt ?? timestampNow()),
        async run(claim) {
          runs++;
          return { ...claim, displayName: "done" };
        },
      };
      const unrecorded: unknown[] = [];
      const options = { leaseMs: 2_000, unrecorded: (err: unknown) => unrecorded.push(err) };

      refusals = 2;
      assert.equal((await once("k1", effect, options)).displayName, "done");
      assert.equal((await store.get("k1"))?.value.displayName, "done", "recorded on the third try");
      assert.deepEqual([runs, unrecorded.length], [1, 0]);

      // Away for longer than half the lease: the caller still gets the result, and is told.
      refusals = Number.POSITIVE_INFINITY;
      tries = 0;
      const started = Date.now();
      assert.equal((await once("k2", effect, options)).displayName, "done");
      const tookMs = Date.now() - started;
      assert.ok(tries >= 4 && tookMs < 2_000, `tried ${tries} times in ${tookMs} ms, within half the lease`);
      assert.equal(unrecorded.length, 1);
      assert.equal((await store.get("k2"))?.value.displayName, "", "the claim stays");
    } finally {
      await nc.close();
    }
  },
);

test(
  "ctx.every: runs never overlap, a failed run is logged, drain waits for the run and stops the timer",
  TIMEOUT,
  async () => {
    await using server = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: server.url });
    const runs: { start: number; end: number }[] = [];
    let attempts = 0;
    const warnings: string[] = [];
    const logger: Logger = {
      log: (level, message, fields) => level === "warn" && warnings.push(`${message} ${fields?.timer}`),
    };
    const fourRuns = deferred();
    const held = deferred<AbortSignal>();
    const release = deferred();
    let ctxOf: ActorContext | undefined;
    const actor = await serveActor(
      nc,
      defineActor({
        name: "ticker",
        version: "1.0.0",
        description: "runs a timer",
        setup(ctx) {
          ctxOf = ctx;
          ctx.every(
            5,
            async (signal) => {
              const start = performance.now();
              const n = runs.length;
              if (++attempts === 2) throw new Error("test: the second run fails");
              // Each run takes longer than the interval: an overlapping timer would start the next meanwhile.
              if (n < 4) await work(20);
              runs.push({ start, end: performance.now() });
              if (runs.length === 4) fourRuns.resolve();
              if (runs.length === 5) {
                held.resolve(signal);
                await release.promise;
              }
            },
            { immediately: true, name: "tick", jitter: 0.5 },
          );
        },
      }),
      { logger },
    );
    try {
      await withTimeout(fourRuns.promise, 10_000, () => `only ${runs.length} runs`);
      assert.deepEqual(warnings.slice(0, 1), ["a timer's run failed; the next run tries again tick"]);
      for (let i = 1; i < runs.length; i++) {
        assert.ok(
          (runs[i]?.start ?? 0) >= (runs[i - 1]?.end ?? 0),
          `run ${i} began after run ${i - 1} ended`,
        );
      }
      assert.throws(() => ctxOf?.every(10, () => undefined), /declare timers in setup/);

      const signal = await withTimeout(held.promise, 10_000, () => "no fifth run");
      let drained = false;
      const draining = actor.drain(1_000).then(() => {
        drained = true;
      });
      await withTimeout(
        new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true })),
        5_000,
        () => "the run's signal did not abort at drain",
      );
      assert.equal(drained, false, "drain waits for the run in progress");
      const count = runs.length;
      release.resolve();
      await draining;
      await work(50); // ten intervals: a timer still running would have run again
      assert.equal(runs.length, count, "no run after drain");
    } finally {
      await nc.close();
    }
  },
);

test(
  "a nested call inherits the deadline and the cancellation, also with a signal of its own",
  TIMEOUT,
  async () => {
    await using server = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: server.url });
    const nestedArrived = deferred<number | undefined>();
    const nestedEnded = deferred<{ code: Code; afterMs: number }>();
    let cancelledAt = 0;
    const slow = await serveActor(
      nc,
      defineActor({
        name: "slow",
        version: "1.0.0",
        description: "answers when its call is over",
        serves: [UserService],
        services: () => [
          implement(UserService, {
            async getUser(_request, context) {
              nestedArrived.resolve(context.timeoutMs());
              await new Promise((resolve) =>
                context.signal.addEventListener("abort", resolve, { once: true }),
              );
              return {};
            },
          }),
        ],
      }),
      { logger: silentLogger },
    );
    const front = await serveActor(
      nc,
      defineActor({
        name: "front",
        version: "1.0.0",
        description: "calls slow while it streams",
        serves: [ProductService],
        calls: [UserService],
        services: (ctx) => [
          implement(ProductService, {
            // A stream, because its caller's cancellation reaches the handler (a frame of its own).
            async *watchProducts() {
              // A signal of its own, as a handler that cancels sibling calls has: the caller's
              // cancellation must still end the nested call.
              const own = new AbortController();
              try {
                await ctx.client(UserService).getUser({ id: "u-1" }, { signal: own.signal });
              } catch (err) {
                nestedEnded.resolve({
                  code: ConnectError.from(err).code,
                  afterMs: performance.now() - cancelledAt,
                });
                throw err;
              }
              yield {};
            },
          }),
        ],
      }),
      { logger: silentLogger },
    );
    try {
      const products = createClient(ProductService, createNatsTransport({ nc }));
      const caller = new AbortController();
      const stream = products.watchProducts({ ids: ["p-1"] }, { timeoutMs: 5_000, signal: caller.signal });
      const reading = (async () => {
        for await (const _ of stream);
      })().catch(() => undefined);
      const nestedTimeoutMs = await withTimeout(nestedArrived.promise, 5_000, () => "no nested call");
      assert.ok(
        nestedTimeoutMs !== undefined && nestedTimeoutMs <= 5_000,
        `the nested call had the caller's remaining time, not its own default: ${nestedTimeoutMs}`,
      );
      cancelledAt = performance.now();
      caller.abort();
      const ended = await withTimeout(
        nestedEnded.promise,
        4_000,
        () => "the nested call outlived its caller",
      );
      assert.equal(ended.code, Code.Canceled);
      assert.ok(ended.afterMs < 2_000, `ended ${ended.afterMs} ms after the cancellation`);
      await reading;
    } finally {
      await front.drain(1_000);
      await slow.drain(1_000);
      await nc.close();
    }
  },
);

test("ctx.publish takes the declared event types only (checked by tsc)", () => {
  const declaring = defineActor({
    name: "typed",
    version: "1.0.0",
    description: "publishes UserRegistered",
    publishes: { events: [UserRegisteredSchema] },
    async setup(ctx) {
      await ctx.publish(UserRegisteredSchema, { userId: "u-1" });
      // @ts-expect-error OrderPlaced is not in publishes.events
      await ctx.publish(OrderPlacedSchema, { orderId: "o-1" });
      // @ts-expect-error nothing is declared in publishes.jobs
      await ctx.enqueue(UserRegisteredSchema, { userId: "u-1" });
    },
  });
  const silent = defineActor({
    name: "silent",
    version: "1.0.0",
    description: "publishes nothing",
    async setup(ctx) {
      // @ts-expect-error an actor without publishes publishes nothing
      await ctx.publish(UserRegisteredSchema, { userId: "u-1" });
    },
  });
  // Never served: the assertions above are the compiler's. Both still fit where any actor goes.
  const actors: Parameters<typeof serveActor>[1][] = [declaring, silent];
  assert.equal(actors.length, 2);
});
