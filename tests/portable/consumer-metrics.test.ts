/**
 * Consumer metrics against a real nats-server (docs/adr/0025-metrics-for-every-part.md): after N
 * jobs handled at once, M that fail once and are then handled, and K refused into the dead
 * letters, the actor's `$SRV.STATS` data reports exactly those counts for its consumer, with a
 * handler latency histogram holding every run, and the Prometheus page says the same; the lag is
 * JetStream's own num_pending and num_ack_pending, read again when STATS asks.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  defineActor,
  enqueueJob,
  onEvent,
  onJob,
  publishEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { serviceStats } from "troupe/discovery";
import { renderMetrics } from "troupe/gateway";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema, OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { deferred, eventually } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };
const N = 5;
const M = 3;
const K = 2;

interface ConsumerData {
  stream: string;
  consumer: string;
  kind: string;
  handled: number;
  failed: number;
  dead_lettered: number;
  in_flight: number;
  latency: { count: number; buckets: [number | "+Inf", number][]; p50_seconds: number; p99_seconds: number };
  lag: { pending: number; ack_pending: number; age_ms: number } | undefined;
}

describe("consumer metrics in $SRV.STATS and the Prometheus page", () => {
  let server: NatsServer;
  let actorNc: NatsConnection;
  let clientNc: NatsConnection;
  let actor: RunningActor;
  const gate = deferred<void>();

  before(async () => {
    server = await startNatsServer();
    actorNc = await connect({ servers: server.url });
    clientNc = await connect({ servers: server.url });
    const definition = defineActor({
      name: "metered-consumer",
      version: "1.0.0",
      description: "counts what its consumers do",
      consumes: { events: [OrderPlacedSchema], jobs: [FulfilOrderSchema] },
      subscriptions: () => [
        onJob(
          FulfilOrderSchema,
          (job, meta) => {
            if (job.orderId.startsWith("poison")) {
              // invalid_argument: no retry can succeed, so the first failure dead-letters it.
              throw new ConnectError("no such reservation", Code.InvalidArgument);
            }
            if (job.orderId.startsWith("flaky") && meta.deliveryCount === 1) throw new Error("try again");
          },
          { retryDelayMs: 20, maxRetryDelayMs: 20 },
        ),
        // Held until the test opens the gate: one running, one buffered, the rest in the stream.
        onEvent(OrderPlacedSchema, () => gate.promise, { concurrency: 1, bufferSize: 1 }),
      ],
    });
    actor = await serveActor(actorNc, definition, { logger: silentLogger, consumerLagMaxAgeMs: 0 });
  });

  after(async () => {
    gate.resolve();
    await actor?.drain(1_000);
    await clientNc?.close();
    await actorNc?.close();
    await server?.dispose();
  });

  const consumers = async (): Promise<ConsumerData[]> => {
    const [stats] = await serviceStats(clientNc, { name: "metered-consumer" });
    assert.ok(stats, "the actor answers STATS");
    return (stats.data as { consumers: ConsumerData[] }).consumers;
  };
  const jobs = async () => {
    const found = (await consumers()).find((c) => c.kind === "job");
    assert.ok(found, "the job consumer is reported");
    return found;
  };

  test(
    "handled, failed and dead-lettered counts are exact, and every run is in the histogram",
    TIMEOUT,
    async () => {
      const js = jetstream(clientNc);
      for (let i = 0; i < N; i++) await enqueueJob(js, FulfilOrderSchema, { orderId: `ok-${i}` });
      for (let i = 0; i < M; i++) await enqueueJob(js, FulfilOrderSchema, { orderId: `flaky-${i}` });
      for (let i = 0; i < K; i++) await enqueueJob(js, FulfilOrderSchema, { orderId: `poison-${i}` });

      await eventually(async () => {
        const c = await jobs();
        return c.handled + c.dead_lettered === N + M + K;
      }, "every job is handled or dead-lettered");
      const c = await jobs();
      assert.equal(c.stream, "JOB_shop_v1_FulfilOrder");
      assert.equal(c.consumer, "FulfilOrder");
      assert.equal(c.handled, N + M, "the good ones and the flaky ones on their second attempt");
      assert.equal(c.failed, M, "each flaky job failed once and was given back");
      assert.equal(c.dead_lettered, K);
      assert.equal(c.in_flight, 0);
      assert.equal(c.latency.count, N + 2 * M + K, "one observation per handler run");
      assert.equal(c.latency.buckets.at(-1)?.[1], N + 2 * M + K);
      assert.ok(c.latency.p50_seconds > 0 && c.latency.p50_seconds <= c.latency.p99_seconds);
      assert.deepEqual(
        { pending: c.lag?.pending, ack_pending: c.lag?.ack_pending },
        { pending: 0, ack_pending: 0 },
        "nothing left: the lag was read when STATS asked",
      );

      const text = await renderMetrics(clientNc);
      const labels = `service="metered-consumer",instance="${actor.id}",stream="JOB_shop_v1_FulfilOrder",consumer="FulfilOrder"`;
      const value = (name: string) => {
        const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
        assert.ok(line, `${name} is on the page:\n${text}`);
        return Number(line.split(" ").at(-1));
      };
      assert.equal(value("troupe_consumer_handled_total"), N + M);
      assert.equal(value("troupe_consumer_failed_total"), M);
      assert.equal(value("troupe_consumer_dead_lettered_total"), K);
      assert.equal(value("troupe_consumer_in_flight"), 0);
      assert.equal(value("troupe_consumer_handler_duration_seconds_count"), N + 2 * M + K);
      assert.equal(value("troupe_consumer_pending_messages"), 0);
      assert.equal(value("troupe_consumer_ack_pending_messages"), 0);
      assert.match(text, /^# TYPE troupe_consumer_handler_duration_seconds histogram$/m);
      assert.match(text, /^# TYPE troupe_consumer_handled_total counter$/m);
      assert.match(
        text,
        new RegExp(
          `^troupe_consumer_handler_duration_quantile_seconds\\{${labels},quantile="0\\.99"\\} \\S+$`,
          "m",
        ),
      );
    },
  );

  test("the lag is the consumer's num_pending and num_ack_pending", TIMEOUT, async () => {
    const js = jetstream(clientNc);
    for (let i = 0; i < 5; i++) await publishEvent(js, OrderPlacedSchema, { orderId: `o-${i}` });
    const events = async () => {
      const found = (await consumers()).find((c) => c.kind === "event");
      assert.ok(found, "the event consumer is reported");
      return found;
    };
    // One handler slot and one buffered message: two delivered and held, three in the stream.
    await eventually(async () => {
      const c = await events();
      return c.in_flight === 2 && c.lag?.pending === 3 && c.lag.ack_pending === 2;
    }, "two messages held and three pending");
    const c = await events();
    assert.equal(c.handled, 0);
    assert.ok((c.lag?.age_ms ?? Number.POSITIVE_INFINITY) < 5_000, "a fresh reading");
    const text = await renderMetrics(clientNc);
    assert.match(
      text,
      new RegExp(`^troupe_consumer_pending_messages\\{[^}]*consumer="${c.consumer}"\\} 3$`, "m"),
    );
    assert.match(
      text,
      new RegExp(`^troupe_consumer_ack_pending_messages\\{[^}]*consumer="${c.consumer}"\\} 2$`, "m"),
    );

    gate.resolve();
    await eventually(async () => {
      const done = await events();
      return done.handled === 5 && done.lag?.pending === 0 && done.lag.ack_pending === 0;
    }, "all five handled and the lag gone");
  });
});
