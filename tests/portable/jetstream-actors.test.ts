/**
 * Actors with events and jobs, served in-process against a real nats-server: `publishes`
 * declares streams, `ctx.publish`/`ctx.enqueue` write to them, `onEvent`/`onJob` subscriptions
 * become durable consumers shared by an actor's instances, and `drain()` stops them.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  type ActorContext,
  defineActor,
  type Logger,
  onEvent,
  onJob,
  type PublishAck,
  type RunningActor,
  type ServeActorOptions,
  serveActor,
  silentLogger,
} from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema, OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { UserRegisteredSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import { createTally, eventually } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };
const FAST = { ackWaitMs: 1_000, maxAttempts: 3 };

describe("actors with events and jobs", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const actors: RunningActor[] = [];
  const options: Partial<ServeActorOptions> = { logger: silentLogger, namespace: "shop" };

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    await Promise.all(actors.map((a) => a.drain(0)));
    await nc?.close();
    await server?.dispose();
  });

  async function serve(...args: Parameters<typeof serveActor>): Promise<RunningActor> {
    const actor = await serveActor(...args);
    actors.push(actor);
    return actor;
  }

  const welcomed = createTally("welcome");
  const audited = createTally("audit");
  const fulfilled = createTally("fulfil");
  const welcomeByInstance = new Map<string, string[]>();

  const welcomeActor = defineActor({
    name: "welcome",
    version: "1.0.0",
    description: "says hello",
    consumes: { events: [UserRegisteredSchema] },
    setup: (ctx: ActorContext) => ({ instance: ctx.instanceId, greeting: "Welcome" }),
    subscriptions: (_ctx, state) => [
      onEvent(
        UserRegisteredSchema,
        (event, meta) => {
          assert.equal(meta.key, event.userId, "the key is the event's key field");
          welcomeByInstance.set(state.instance, [
            ...(welcomeByInstance.get(state.instance) ?? []),
            event.userId,
          ]);
          welcomed.add(`${state.greeting} ${event.userId}`);
        },
        { ...FAST, idempotent: true, concurrency: 2, bufferSize: 2 },
      ),
    ],
  });

  const auditActor = defineActor({
    name: "audit",
    version: "1.0.0",
    description: "records everything",
    consumes: { events: [UserRegisteredSchema] },
    subscriptions: () => [onEvent(UserRegisteredSchema, (event) => audited.add(event.userId), FAST)],
  });

  const fulfilActor = defineActor({
    name: "fulfilment",
    version: "1.0.0",
    description: "fulfils orders",
    consumes: { jobs: [FulfilOrderSchema] },
    subscriptions: () => [onJob(FulfilOrderSchema, (job) => fulfilled.add(job.orderId), FAST)],
  });

  let registrar: ActorContext | undefined;
  const registrarActor = defineActor({
    name: "registrar",
    version: "1.0.0",
    description: "publishes",
    publishes: { events: [UserRegisteredSchema], jobs: [FulfilOrderSchema] },
    setup: (ctx: ActorContext) => {
      registrar = ctx;
    },
  });

  test("published events reach every subscribing actor once; jobs reach one instance", TIMEOUT, async () => {
    const logged = (into: string[]): Logger => ({ log: (_, message) => into.push(message) });
    const firstLog: string[] = [];
    const secondLog: string[] = [];
    const welcomeA = await serve(nc, welcomeActor, { ...options, logger: logged(firstLog) });
    const welcomeB = await serve(nc, welcomeActor, { ...options, logger: logged(secondLog) });
    assert.deepEqual(firstLog, ["stream created", "stream created", "consumer created"]);
    assert.deepEqual(secondLog, [], "the second instance's start changed nothing");
    await serve(nc, auditActor, options);
    await serve(nc, fulfilActor, options);
    await serve(nc, registrarActor, options);
    assert.ok(registrar);
    assert.equal(registrar.namespace, "shop");

    const consumers = await jsm.consumers.list("shop_EVT_shop_v1").next();
    assert.deepEqual(consumers.map((c) => c.name).sort(), ["audit_UserRegistered", "welcome_UserRegistered"]);

    for (let i = 0; i < 20; i++) {
      const ack: PublishAck = await registrar.publish(UserRegisteredSchema, { userId: `u-${i}` });
      assert.equal(ack.stream, "shop_EVT_shop_v1");
    }
    for (let i = 0; i < 5; i++) await registrar.enqueue(FulfilOrderSchema, { orderId: `o-${i}` });

    await Promise.all([welcomed.reached(20), audited.reached(20), fulfilled.reached(5)]);
    assert.equal(welcomed.distinct.size, 20);
    assert.ok(
      welcomed.entries.every((e) => e.startsWith("Welcome ")),
      "handlers get their instance's state",
    );
    assert.equal(audited.distinct.size, 20);
    assert.equal(fulfilled.distinct.size, 5);
    const a = welcomeByInstance.get(welcomeA.id) ?? [];
    const b = welcomeByInstance.get(welcomeB.id) ?? [];
    assert.equal(a.length + b.length, 20);
    assert.equal(
      a.filter((id) => b.includes(id)).length,
      0,
      "the two instances of one actor never both handle an event",
    );
  });

  test("publishing a type the actor does not declare is refused", TIMEOUT, async () => {
    assert.ok(registrar);
    await assert.rejects(registrar.publish(OrderPlacedSchema, { orderId: "o-1" }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.FailedPrecondition);
      assert.match(err.rawMessage, /does not declare shop\.v1\.OrderPlaced in publishes\.events/);
      return true;
    });
  });

  test("drain() stops an instance's consumers; the other instance takes over", TIMEOUT, async () => {
    const [first, second] = actors.filter((a) => a.name === "welcome");
    assert.ok(first && second);
    await first.drain(1_000);
    assert.equal(first.consumers[0]?.inFlight, 0);
    const before = welcomeByInstance.get(first.id)?.length ?? 0;
    assert.ok(registrar);
    for (let i = 0; i < 6; i++) await registrar.publish(UserRegisteredSchema, { userId: `late-${i}` });
    await welcomed.reached(26);
    assert.equal(welcomeByInstance.get(first.id)?.length ?? 0, before, "the drained instance took nothing");
    await eventually(
      async () =>
        (await jsm.consumers.info("shop_EVT_shop_v1", "welcome_UserRegistered")).num_ack_pending === 0,
      "everything is acknowledged",
    );
  });
});
