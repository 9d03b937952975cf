/**
 * Issue 4, "nothing acknowledged may be lost, whatever crashes", for registrations: a
 * RegisterUser call that dies after the user was decided and is never retried still gets its
 * UserRegistered, published by the user instances' sweep of the outbox (actors/user/
 * announce-sweep.ts). The user actor runs in-process with `serveActor` against a real
 * nats-server; its context is wrapped (tests/support/actor-hooks.ts) so the call's own publish
 * fails, as if its instance died there, and the client never retries. An observer actor
 * receives the events; the stream's own record counts them. The wrapped timer reports each
 * sweep pass, which the tests await instead of sleeping.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  defineActor,
  onEvent,
  openStateStore,
  publishEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import { currentCallScope } from "troupe/resilience";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createUserActor, userRegisteredEventId } from "../../actors/user/actor.ts";
import type { AnnounceSweepOptions } from "../../actors/user/announce-sweep.ts";
import { type Announce, openUserStore, type PendingSweep } from "../../actors/user/user-store.ts";
import {
  type User,
  type UserRegistered,
  UserRegisteredSchema,
  UserSchema,
  UserService,
} from "../../proto/gen/shop/v1/user_pb.ts";
import { withHooks } from "../support/actor-hooks.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { deferred, withTimeout } from "../support/jetstream-test-kit.ts";
import { storedEvents } from "../support/stored-events.ts";

const TIMEOUT = { timeout: 60_000 };
// Generous: each pass lists the outbox with a new ordered consumer, which a loaded CI machine slows.
const WAIT_MS = 20_000;

/** What was seen, in order; `next` finds the first entry (seen already or still to come) that matches. */
function recorder<T>(name: string) {
  const entries: T[] = [];
  const waiters = new Set<{ match: (entry: T) => boolean; resolve: (entry: T) => void }>();
  return {
    entries,
    add(entry: T) {
      entries.push(entry);
      for (const waiter of [...waiters]) {
        if (!waiter.match(entry)) continue;
        waiters.delete(waiter);
        waiter.resolve(entry);
      }
    },
    /** The first entry from index `from` on that matches, seen already or still to come. */
    next(match: (entry: T) => boolean, what: string, from = 0): Promise<T> {
      const seen = entries.slice(from).find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      const found = deferred<T>();
      const waiter = { match, resolve: found.resolve };
      waiters.add(waiter);
      return withTimeout(found.promise, WAIT_MS, () => `${name}: no ${what}`).finally(() =>
        waiters.delete(waiter),
      );
    },
  };
}

/** One sweep pass, and the instance that made it. */
interface Pass extends PendingSweep {
  readonly instance: string;
}

/**
 * The second pass of `instance` recorded after index `from`: it began after the first one
 * ended, so after everything done before `from` was recorded (passes of one instance never
 * overlap). The first may have been under way already.
 */
async function passStartedAfter(passes: ReturnType<typeof recorder<Pass>>, instance: string, from: number) {
  const first = await passes.next((p) => p.instance === instance, `a pass of ${instance}`, from);
  const next = passes.entries.indexOf(first) + 1;
  return passes.next((p) => p.instance === instance, `a later pass of ${instance}`, next);
}

describe("the outbox sweep announces registrations whose call died", () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  /** Every UserRegistered the observer received, and whether GetUser found the user then. */
  const received = recorder<{ event: UserRegistered; found: boolean }>("observer");

  const connection = async () => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };
  const serve = async (actor: Parameters<typeof serveActor>[1], namespace: string) => {
    const running = await serveActor(await connection(), actor, { namespace, logger: silentLogger });
    actors.push(running);
    return running;
  };
  const usersIn = async (namespace: string): Promise<Client<typeof UserService>> =>
    createClient(UserService, createNatsTransport({ nc: await connection(), namespace }));
  /** An actor that records every UserRegistered, asking the user actor for the user as it comes. */
  const observe = async (namespace: string) => {
    const users = await usersIn(namespace);
    await serve(
      defineActor({
        name: "observer",
        version: "1.0.0",
        description: "records UserRegistered",
        consumes: { events: [UserRegisteredSchema] },
        subscriptions: () => [
          onEvent(UserRegisteredSchema, async (event) => {
            const found = await users.getUser({ id: event.userId }).then(
              () => true,
              () => false,
            );
            received.add({ event, found });
          }),
        ],
      }),
      namespace,
    );
  };
  /**
   * A user actor whose RegisterUser calls run `beforeAnnounce` before publishing (after the
   * user was written): it may throw (the instance dies there) or hold the call. The sweep's
   * publishes (not made while serving a call) go ahead; each sweep pass is recorded.
   */
  const userInstance = (
    instance: string,
    passes: ReturnType<typeof recorder<Pass>>,
    sweep: Partial<AnnounceSweepOptions>,
    beforeAnnounce: (user: User) => void | Promise<void> = () => undefined,
  ) =>
    withHooks(createUserActor({ announceSweep: sweep }), {
      context: (ctx) => ({
        ...ctx,
        async publish(schema, init, options) {
          if (currentCallScope() !== undefined) {
            const event = create(UserRegisteredSchema, init as MessageInitShape<typeof UserRegisteredSchema>);
            const { userId: id, email, displayName, registeredAt: createdAt } = event;
            await beforeAnnounce(create(UserSchema, { id, email, displayName, createdAt }));
          }
          return ctx.publish(schema, init, options);
        },
        every: (intervalMs, run, options) =>
          ctx.every(
            intervalMs,
            async (signal) => {
              const found = (await run(signal)) as PendingSweep;
              passes.add({ ...found, instance });
              return found;
            },
            options,
          ),
      }),
    });
  const registeredEvents = (userId: string, namespace: string) =>
    storedEvents(js, jsm, UserRegisteredSchema, userId, namespace);
  const outboxOf = async (namespace: string) =>
    (await openStateStore(nc, { bucket: "user_unannounced", namespace, schema: UserSchema })).keys();

  before(async () => {
    server = await startNatsServer();
    nc = await connection();
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  test(
    "a call that dies before publishing, never retried: two sweeping instances announce it once",
    TIMEOUT,
    async () => {
      const namespace = "died";
      const passes = recorder<Pass>("sweeps");
      const sweep = { intervalMs: 50, graceMs: 100 };
      let died: User | undefined;
      // Whichever instance takes the call dies before publishing.
      const dies = (user: User) => {
        died = user;
        throw new Error("test: the instance dies before publishing");
      };
      await serve(userInstance("A", passes, sweep, dies), namespace);
      await serve(userInstance("B", passes, sweep, dies), namespace);
      await observe(namespace);

      const error = await connectErrorOf(
        (await usersIn(namespace)).registerUser({
          idempotencyKey: "died-1",
          email: "Vera@Example.org",
          displayName: "Vera",
        }),
      );
      assert.equal(error.code, Code.Internal, "the call failed; the client never retries it");
      assert.ok(died, "the user was written before the publish failed");
      const userId = died.id;

      const { event, found } = await received.next((r) => r.event.userId === userId, `event of ${userId}`);
      assert.deepEqual(
        [event.email, event.displayName, event.registeredAt],
        ["vera@example.org", "Vera", died.createdAt],
      );
      assert.ok(found, "GetUser finds the user an event announces");
      const announcing = await passes.next((p) => p.announced.includes(userId), "pass that announced");

      // Both instances sweep again after the announcement: neither publishes it again.
      const announced = passes.entries.indexOf(announcing) + 1;
      for (const instance of ["A", "B"]) {
        const pass = await passStartedAfter(passes, instance, announced);
        assert.deepEqual(
          [pass.announced, pass.cleared, pass.waiting, pass.failed],
          [[], [], [], []],
          `${instance} finds the outbox empty`,
        );
      }
      const stored = await registeredEvents(userId, namespace);
      assert.equal(stored.length, 1, "exactly one UserRegistered stored for the user");
      assert.deepEqual(await outboxOf(namespace), []);
      const { user } = await (await usersIn(namespace)).getUser({ id: userId });
      assert.equal(user?.email, "vera@example.org");
    },
  );

  test("a registration in flight within the grace period is left to its call", TIMEOUT, async () => {
    const namespace = "inflight";
    const passes = recorder<Pass>("sweeps");
    const held = deferred<User>();
    const release = deferred();
    await serve(
      userInstance("A", passes, { intervalMs: 50, graceMs: 60_000 }, async (user) => {
        held.resolve(user);
        await release.promise;
      }),
      namespace,
    );
    const call = (await usersIn(namespace)).registerUser({
      idempotencyKey: "inflight-1",
      email: "ines@example.org",
      displayName: "Inès",
    });
    // The user and its outbox entry are written; the call waits before publishing.
    const { id } = await held.promise;
    const from = passes.entries.length;
    const pass = await passes.next(
      (p) => [...p.waiting, ...p.announced, ...p.failed.map((f) => f.userId)].includes(id),
      "pass that saw the entry",
      from,
    );
    assert.deepEqual([pass.waiting, pass.announced], [[id], []], "the pass saw the registration and left it");
    assert.ok(
      passes.entries.every((p) => !p.announced.includes(id)),
      "no pass announced it",
    );
    assert.equal((await registeredEvents(id, namespace)).length, 0, "nothing published yet");

    release.resolve();
    const { user } = await call;
    assert.equal(user?.id, id);
    assert.equal((await registeredEvents(id, namespace)).length, 1, "the call published it");
    const later = await passStartedAfter(passes, "A", passes.entries.length);
    assert.deepEqual(
      [later.announced, later.cleared, later.waiting],
      [[], [], []],
      "the call removed its outbox entry",
    );
  });

  test("a call that died before writing the user: the sweep writes it, then announces", TIMEOUT, async () => {
    const namespace = "unwritten";
    const passes = recorder<Pass>("sweeps");
    await observe(namespace);
    // What a call leaves when it dies between the outbox entry and the user: key, email, entry.
    const registration = { idempotencyKey: "unwritten-1", email: "uma@example.org", displayName: "Uma" };
    const left = create(UserSchema, {
      id: "u-unwritten",
      email: registration.email,
      displayName: registration.displayName,
      createdAt: timestampNow(),
    });
    const bucket = (name: string) => openStateStore(nc, { bucket: name, namespace, schema: UserSchema });
    await (await bucket("user_registrations")).put(stateKeyOf(registration.idempotencyKey), left);
    await (await bucket("user_emails")).put(stateKeyOf(registration.email), left);
    await (await bucket("user_unannounced")).put(left.id, left);

    // A new instance sweeps at start.
    await serve(userInstance("A", passes, { intervalMs: 50, graceMs: 0 }), namespace);
    const { found } = await received.next((r) => r.event.userId === left.id, "event of u-unwritten");
    assert.ok(found, "the user was written before the event was published");
    const users = await usersIn(namespace);
    const { user } = await users.registerUser(registration);
    assert.equal(user?.id, left.id, "a late retry answers with the swept registration");
    assert.equal((await registeredEvents(left.id, namespace)).length, 1, "and publishes nothing more");
  });

  test("two stores sweeping one registration at the same moment store one event", TIMEOUT, async () => {
    const namespace = "pair";
    // A user actor declares the stream; its own sweep leaves young registrations alone.
    await serve(createUserActor(), namespace);
    const storesOn = (nc: NatsConnection) => ({
      state: <Desc extends DescMessage>(bucket: string, schema: Desc) =>
        openStateStore(nc, { bucket, schema, namespace }),
    });
    const [a, b] = await Promise.all([
      openUserStore(storesOn(await connection())),
      openUserStore(storesOn(await connection())),
    ]);
    const dies: Announce = () => Promise.reject(new Error("test: the instance dies before publishing"));
    const registration = { idempotencyKey: "pair-1", email: "pia@example.org", displayName: "Pia" };
    await assert.rejects(a.register(registration, dies), /dies before publishing/);

    // Each sweep's announce waits until the other's has come too, then both publish.
    let arrived = 0;
    const both = deferred();
    const publishes: string[] = [];
    const announce: Announce = async (user) => {
      if (++arrived === 2) both.resolve();
      await withTimeout(both.promise, WAIT_MS, () => "the second sweep never announced");
      const ack = await publishEvent(
        js,
        UserRegisteredSchema,
        { userId: user.id, email: user.email, displayName: user.displayName, registeredAt: user.createdAt },
        { id: userRegisteredEventId(user.id), namespace },
      );
      publishes.push(ack.duplicate ? "duplicate" : "stored");
    };
    const cutoff = Date.now() + 1;
    const [passA, passB] = await Promise.all([
      a.announcePending(announce, cutoff),
      b.announcePending(announce, cutoff),
    ]);
    assert.equal(passA.announced.length, 1);
    assert.deepEqual(passB.announced, passA.announced, "both passes announced the registration");
    assert.deepEqual(publishes.sort(), ["duplicate", "stored"], "the stream dropped the second publish");
    const userId = passA.announced[0] ?? assert.fail("announced");
    assert.equal((await registeredEvents(userId, namespace)).length, 1);
    assert.deepEqual(await outboxOf(namespace), [], "the outbox is empty");

    // A retry of the call now finds it complete and announces nothing.
    const retried = await a.register(registration, () => assert.fail("announced again"));
    assert.equal(retried.id, userId);
    const again = await a.announcePending(() => assert.fail("announced again"), Date.now() + 1);
    assert.deepEqual([again.announced, again.cleared, again.waiting], [[], [], []]);
  });
});
