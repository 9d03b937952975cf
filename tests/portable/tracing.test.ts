/**
 * Tracing against a real nats-server: without an SDK nothing is added to the wire; with an
 * in-process SDK (InMemorySpanExporter) an RPC call is a client span and a server span that is
 * its child, a handler's own calls are children of its server span, a published event or job
 * is a producer span whose consumer span (the handler) is its child, and log lines written in a
 * handler carry its trace and span ids (docs/adr/0014-tracing-and-metrics.md).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import {
  createJsonLogger,
  createNatsTransport,
  enqueueJob,
  implement,
  publishEvent,
  silentLogger,
} from "troupe";
import { serveServices } from "troupe/host";
import {
  consume,
  eventConsumer,
  eventStream,
  jobConsumer,
  jobStream,
  type RunningConsumer,
  reconcileConsumer,
  reconcileStreams,
} from "troupe/jetstream";
import { activeSpanIds, installTracing, type TracingSdk } from "troupe/observability";
import { Header, rpcMethodSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserRegisteredSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { deferred, withTimeout } from "../support/jetstream-test-kit.ts";
import { SpanLog } from "../support/span-log.ts";

const TIMEOUT = { timeout: 30_000 };

let server: NatsServer;
let serverNc: NatsConnection;
let clientNc: NatsConnection;
const running: RunningConsumer[] = [];
/** Span ids seen by handlers while they ran, by request id. */
const seenInHandler = new Map<string, ReturnType<typeof activeSpanIds>>();

before(async () => {
  server = await startNatsServer();
  serverNc = await connect({ servers: server.url });
  clientNc = await connect({ servers: server.url });
  const users = createClient(UserService, createNatsTransport({ nc: serverNc }));
  await serveServices(
    serverNc,
    [
      implement(UserService, {
        getUser(req) {
          seenInHandler.set(`user:${req.id}`, activeSpanIds());
          return { user: { id: req.id, displayName: "Ada" } };
        },
      }),
      implement(ProductService, {
        async getProduct(req) {
          seenInHandler.set(`product:${req.id}`, activeSpanIds());
          if (req.id === "nested") {
            // The handler calls another actor: that call must continue this handler's trace.
            await new Promise((resolve) => setTimeout(resolve, 1));
            const { user } = await users.getUser({ id: "u1" });
            return { product: { id: req.id, name: user?.displayName ?? "" } };
          }
          return { product: { id: req.id, name: `Product ${req.id}` } };
        },
        async *watchProducts() {
          seenInHandler.set("watch", activeSpanIds());
          yield { product: { id: "p1" } };
        },
      }),
    ],
    // The fakes take requests the shop's rules would refuse (an empty WatchProducts).
    { name: "tracing-test", logger: silentLogger, validateRequests: false },
  );
});

after(async () => {
  await Promise.all(running.map((c) => c.stop(0)));
  await clientNc?.close();
  await serverNc?.close();
  await server?.dispose();
});

/** The first NATS message on `subject` after `act()` runs, as a raw subscriber sees it. */
async function capture(nc: NatsConnection, subject: string, act: () => Promise<unknown>): Promise<Msg> {
  const seen = deferred<Msg>();
  const sub = nc.subscribe(subject, { callback: (_err, msg) => seen.resolve(msg) });
  await nc.flush();
  try {
    await act();
    return await withTimeout(seen.promise, 5_000, () => `nothing on ${subject}`);
  } finally {
    sub.unsubscribe();
  }
}

let namespaces = 0;
/** A fresh namespace with event and job streams and one consumer of each. */
async function declareStreams() {
  const namespace = `tr${++namespaces}`;
  const jsm = await jetstreamManager(clientNc);
  const version = clientNc.info?.version ?? "";
  const events = eventStream("shop.v1", { namespace });
  const jobs = jobStream(FulfilOrderSchema, { namespace });
  await reconcileStreams(jsm, version, [events, jobs]);
  const eventSpec = eventConsumer("tracer", UserRegisteredSchema, { namespace });
  const jobSpec = jobConsumer(FulfilOrderSchema, { namespace });
  await reconcileConsumer(jsm, version, events.name, eventSpec);
  await reconcileConsumer(jsm, version, jobs.name, jobSpec);
  return {
    namespace,
    events: events.name,
    jobs: jobs.name,
    eventConsumer: eventSpec.durable_name ?? "",
    jobConsumer: jobSpec.durable_name ?? "",
  };
}

describe("without an OpenTelemetry SDK", () => {
  test("a call carries no trace context and still works", TIMEOUT, async () => {
    const products = createClient(ProductService, createNatsTransport({ nc: clientNc }));
    const msg = await capture(serverNc, rpcMethodSubject(ProductService.method.getProduct), () =>
      products.getProduct({ id: "plain" }),
    );
    assert.equal(msg.headers?.has(Header.traceparent) ?? false, false);
    assert.equal(seenInHandler.get("product:plain"), undefined, "no span is active in the handler");
  });

  test("a published event carries no trace context and is handled", TIMEOUT, async () => {
    const { namespace, events, eventConsumer: name } = await declareStreams();
    const handled = deferred<Headers>();
    running.push(
      await consume(
        serverNc,
        UserRegisteredSchema,
        { stream: events, consumer: name, kind: "event" },
        (_m, meta) => handled.resolve(meta.headers),
        { namespace, logger: silentLogger },
      ),
    );
    await publishEvent(jetstreamOf(clientNc), UserRegisteredSchema, { userId: "u1" }, { namespace });
    const headers = await withTimeout(handled.promise, 10_000, () => "event not handled");
    assert.equal(headers.has(Header.traceparent), false);
  });
});

describe("with an in-process SDK", () => {
  const exporter = new SpanLog();
  let sdk: TracingSdk;

  before(async () => {
    sdk = await installTracing({ serviceName: "tracing-test", exporter, processor: "simple" });
  });
  after(async () => {
    await sdk?.shutdown();
  });

  const spans = () => exporter.getFinishedSpans();
  const find = (name: string, kind: SpanKind, traceId?: string): ReadableSpan => {
    const span = spans().find(
      (s) =>
        s.name === name && s.kind === kind && (traceId === undefined || s.spanContext().traceId === traceId),
    );
    assert.ok(
      span,
      `a ${SpanKind[kind]} span "${name}" among ${spans()
        .map((s) => s.name)
        .join(", ")}`,
    );
    return span;
  };
  const assertChild = (child: ReadableSpan, parent: ReadableSpan) => {
    assert.equal(
      child.spanContext().traceId,
      parent.spanContext().traceId,
      `${child.name} in ${parent.name}'s trace`,
    );
    assert.equal(
      child.parentSpanContext?.spanId,
      parent.spanContext().spanId,
      `${child.name} is a child of ${parent.name}`,
    );
  };
  /** Runs `fn` under a root span and returns it once ended. */
  const underRoot = async (name: string, fn: () => Promise<unknown>): Promise<ReadableSpan> => {
    await trace.getTracer("test").startActiveSpan(name, async (span) => {
      try {
        await fn();
      } finally {
        span.end();
      }
    });
    return find(name, SpanKind.INTERNAL);
  };

  test(
    "an RPC call: client span under the caller's span, server span under the client span",
    TIMEOUT,
    async () => {
      const products = createClient(ProductService, createNatsTransport({ nc: clientNc }));
      let wire: Msg | undefined;
      const root = await underRoot("checkout", async () => {
        wire = await capture(serverNc, rpcMethodSubject(ProductService.method.getProduct), () =>
          products.getProduct({ id: "p1" }),
        );
      });
      const traceId = root.spanContext().traceId;
      const client = find("shop.v1.ProductService/GetProduct", SpanKind.CLIENT, traceId);
      const server = find("shop.v1.ProductService/GetProduct", SpanKind.SERVER, traceId);
      assertChild(client, root);
      assertChild(server, client);
      assert.match(
        wire?.headers?.get(Header.traceparent) ?? "",
        new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
      );
      assert.equal(client.attributes["rpc.system"], "connect_rpc");
      assert.equal(server.attributes["rpc.service"], "shop.v1.ProductService");
      assert.equal(server.attributes["rpc.method"], "GetProduct");
      assert.equal(server.attributes["messaging.system"], "nats");
      assert.deepEqual(seenInHandler.get("product:p1"), {
        trace_id: traceId,
        span_id: server.spanContext().spanId,
      });
    },
  );

  test("a handler's own call continues its trace: client → server → client → server", TIMEOUT, async () => {
    const products = createClient(ProductService, createNatsTransport({ nc: clientNc }));
    const root = await underRoot("nested", () => products.getProduct({ id: "nested" }));
    const traceId = root.spanContext().traceId;
    const outerClient = find("shop.v1.ProductService/GetProduct", SpanKind.CLIENT, traceId);
    const outerServer = find("shop.v1.ProductService/GetProduct", SpanKind.SERVER, traceId);
    const innerClient = find("shop.v1.UserService/GetUser", SpanKind.CLIENT, traceId);
    const innerServer = find("shop.v1.UserService/GetUser", SpanKind.SERVER, traceId);
    assertChild(outerClient, root);
    assertChild(outerServer, outerClient);
    assertChild(innerClient, outerServer);
    assertChild(innerServer, innerClient);
    assert.equal(seenInHandler.get("user:u1")?.span_id, innerServer.spanContext().spanId);
  });

  test("a failing call ends both spans with an error status and the Connect code", TIMEOUT, async () => {
    const users = createClient(UserService, createNatsTransport({ nc: clientNc }));
    const root = await underRoot("failing", () => users.registerUser({}).catch(() => undefined));
    const traceId = root.spanContext().traceId;
    for (const kind of [SpanKind.CLIENT, SpanKind.SERVER]) {
      const span = find("shop.v1.UserService/RegisterUser", kind, traceId);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes["rpc.connect_rpc.error_code"], "unimplemented");
    }
  });

  test(
    "a server stream's handler runs under a server span whose parent is the caller's span",
    TIMEOUT,
    async () => {
      const products = createClient(ProductService, createNatsTransport({ nc: clientNc }));
      const root = await underRoot("watching", async () => {
        for await (const _ of products.watchProducts({})) break;
      });
      const server = find(
        "shop.v1.ProductService/WatchProducts",
        SpanKind.SERVER,
        root.spanContext().traceId,
      );
      assertChild(server, root);
      assert.equal(seenInHandler.get("watch")?.span_id, server.spanContext().spanId);
    },
  );

  test(
    "an event: producer span under the publisher's span, consumer span under the producer",
    TIMEOUT,
    async () => {
      const { namespace, events, eventConsumer: name } = await declareStreams();
      const handled = deferred<ReturnType<typeof activeSpanIds>>();
      running.push(
        await consume(
          serverNc,
          UserRegisteredSchema,
          { stream: events, consumer: name, kind: "event" },
          () => handled.resolve(activeSpanIds()),
          { namespace, logger: silentLogger },
        ),
      );
      const root = await underRoot("register", () =>
        publishEvent(
          jetstreamOf(clientNc),
          UserRegisteredSchema,
          { userId: "u7" },
          { namespace, id: "evt-u7" },
        ),
      );
      const inHandler = await withTimeout(handled.promise, 10_000, () => "event not handled");
      const traceId = root.spanContext().traceId;
      const producer = find("publish shop.v1.UserRegistered", SpanKind.PRODUCER, traceId);
      assertChild(producer, root);
      assert.equal(
        producer.attributes["messaging.destination.name"],
        `${namespace}.evt.shop.v1.UserRegistered.u7`,
      );
      assert.equal(producer.attributes["messaging.message.id"], "evt-u7");
      // The consumer span ends after the handler returns; wait for it rather than sleep.
      const consumer = await exporter.next(
        (s) => s.kind === SpanKind.CONSUMER && s.spanContext().traceId === traceId,
        "the consumer span",
      );
      assert.equal(consumer.name, "process shop.v1.UserRegistered");
      assertChild(consumer, producer);
      assert.equal(consumer.attributes["messaging.consumer.group.name"], name);
      assert.equal(inHandler?.span_id, consumer.spanContext().spanId);
    },
  );

  test("a job: the handler's consumer span is a child of the enqueuer's producer span", TIMEOUT, async () => {
    const { namespace, jobs, jobConsumer: name } = await declareStreams();
    const handled = deferred<void>();
    running.push(
      await consume(
        serverNc,
        FulfilOrderSchema,
        { stream: jobs, consumer: name, kind: "job" },
        () => handled.resolve(),
        { namespace, logger: silentLogger },
      ),
    );
    const root = await underRoot("enqueue", () =>
      enqueueJob(jetstreamOf(clientNc), FulfilOrderSchema, { orderId: "o1" }, { namespace }),
    );
    await withTimeout(handled.promise, 10_000, () => "job not handled");
    const traceId = root.spanContext().traceId;
    const producer = find("publish shop.v1.FulfilOrder", SpanKind.PRODUCER, traceId);
    const consumer = await exporter.next(
      (s) => s.kind === SpanKind.CONSUMER && s.spanContext().traceId === traceId,
      "the consumer span",
    );
    assertChild(producer, root);
    assertChild(consumer, producer);
  });

  test("log lines written under a span carry its trace and span ids", async () => {
    const lines: string[] = [];
    const original = console.log;
    console.log = (line: string) => lines.push(line);
    try {
      const logger = createJsonLogger({ actor: "test" });
      logger.log("info", "outside");
      await underRoot("logging", async () => logger.log("info", "inside"));
    } finally {
      console.log = original;
    }
    const [outside, inside] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const root = find("logging", SpanKind.INTERNAL);
    assert.equal(outside?.trace_id, undefined);
    assert.equal(inside?.trace_id, root.spanContext().traceId);
    assert.equal(inside?.span_id, root.spanContext().spanId);
  });
});

const jetstreamOf = (nc: NatsConnection) => jetstream(nc);
