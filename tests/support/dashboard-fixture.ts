/**
 * A small running system for the dashboard tests: a harness nats-server, the shop's product and
 * user actors in-process, and a "welcomer" test actor that consumes UserRegistered and fails on
 * demand (with one attempt, so a failure is a dead letter at once). The dashboard itself is
 * served on loopback on a free port. With `traced`, an OpenTelemetry SDK exports every span over
 * OTLP/HTTP (the real exporter, JSON) to the dashboard's receiver, and a gateway serves the
 * product service on a free port: a request through it is a trace gateway → actor.
 */
import { type Client, createClient } from "@connectrpc/connect";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  defineActor,
  onEvent,
  publishEvent,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { type RunningGateway, serveGateway } from "troupe/gateway";
import { listDeadLetters } from "troupe/jetstream";
import { installTracing, type TracingSdk } from "troupe/observability";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { productActor } from "../../actors/product/actor.ts";
import { createUserActor } from "../../actors/user/actor.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { type UserRegistered, UserRegisteredSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import { type RunningDashboard, serveDashboard } from "../../runtime/cli/dashboard/serve-dashboard.ts";
import { eventually, withTimeout } from "./jetstream-test-kit.ts";
import { type Recorder, recorder } from "./shop-fixture.ts";

export const DASHBOARD_NAMESPACE = "dash";

export interface DashboardFixture {
  readonly server: NatsServer;
  /** The test's own connection. */
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly products: Client<typeof ProductService>;
  readonly welcomed: Recorder<UserRegistered>;
  readonly dashboard: RunningDashboard;
  /** The gateway in front of the product service (`traced` only). */
  readonly gateway: RunningGateway | undefined;
  /** Makes the welcomer fail (true) or succeed (false) from now on. */
  failing(fail: boolean): void;
  /** Publishes a UserRegistered event for `userId`. */
  register(userId: string): Promise<void>;
  /** Publishes an event the welcomer fails on, and resolves with its dead letter's sequence. */
  deadLetter(userId: string): Promise<number>;
  close(): Promise<void>;
}

/** The `service.name` of the fixture's spans (one SDK for the whole process). */
export const TRACED_SERVICE = "dashboard-fixture";

export async function startDashboardFixture(
  options: { readonly traced: boolean } = { traced: false },
): Promise<DashboardFixture> {
  const server = await startNatsServer();
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  const welcomed = recorder<UserRegistered>("welcomer");
  let fail = false;
  const welcomer = defineActor({
    name: "welcomer",
    version: "1.0.0",
    description: "welcomes new users (and fails on demand)",
    consumes: { events: [UserRegisteredSchema] },
    subscriptions: () => [
      onEvent(
        UserRegisteredSchema,
        (event) => {
          if (fail) throw new Error("the welcome desk is closed");
          welcomed.add(event);
        },
        { maxAttempts: 1, ackWaitMs: 2_000 },
      ),
    ],
  });
  for (const actor of [productActor, createUserActor({ announceSweep: { intervalMs: 60_000 } }), welcomer]) {
    const own = await connect({ servers: server.url });
    connections.push(own);
    actors.push(await serveActor(own, actor, { logger: silentLogger, namespace: DASHBOARD_NAMESPACE }));
  }
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const products = createClient(ProductService, createNatsTransport({ nc, namespace: DASHBOARD_NAMESPACE }));
  const dashboardNc = await connect({ servers: server.url });
  const dashboard = await serveDashboard(
    { nc: dashboardNc, namespace: DASHBOARD_NAMESPACE, serverLabel: server.url },
    { port: 0, hostname: "127.0.0.1" },
  );
  let sdk: TracingSdk | undefined;
  let gateway: RunningGateway | undefined;
  if (options.traced) {
    sdk = await installTracing({
      serviceName: TRACED_SERVICE,
      exporter: `${dashboard.url}/v1/traces`,
      processor: "simple",
    });
    const gatewayNc = await connect({ servers: server.url });
    connections.push(gatewayNc);
    gateway = await serveGateway(
      {
        nc: gatewayNc,
        services: [ProductService],
        namespace: DASHBOARD_NAMESPACE,
        jwt: undefined,
        logger: silentLogger,
      },
      { port: 0, hostname: "127.0.0.1", discovery: false },
    );
  }
  const register = async (userId: string) => {
    await publishEvent(
      js,
      UserRegisteredSchema,
      { userId, email: `${userId}@example.com` },
      { namespace: DASHBOARD_NAMESPACE },
    );
  };
  return {
    server,
    nc,
    js,
    jsm,
    products,
    welcomed,
    dashboard,
    gateway,
    failing: (value) => {
      fail = value;
    },
    register,
    async deadLetter(userId) {
      const dead = nc.subscribe(`${DASHBOARD_NAMESPACE}.dlq.>`, { max: 1 });
      await nc.flush();
      const arrived = (async (): Promise<Msg> => {
        for await (const m of dead) return m;
        throw new Error("the dead-letter subscription closed");
      })();
      fail = true;
      await register(userId);
      await withTimeout(arrived, 20_000, () => `no dead letter for ${userId}`);
      // The subscription may see the publish before the stream stores it: wait for the stream.
      let seq = 0;
      await eventually(async () => {
        const letters = await listDeadLetters(jsm, { namespace: DASHBOARD_NAMESPACE });
        seq = letters.find((l) => l.subject.endsWith(`.${userId}`))?.deadLetterSeq ?? 0;
        return seq > 0;
      }, `the dead letter of ${userId} is stored`);
      return seq;
    },
    async close() {
      await gateway?.stop(0);
      await sdk?.shutdown();
      await dashboard.stop(0);
      await Promise.all(actors.map((a) => a.drain(0)));
      await Promise.all([...connections, nc, dashboardNc].map((c) => c.close()));
      await server.dispose();
    },
  };
}
