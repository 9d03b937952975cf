/**
 * Metrics against a real nats-server: after N calls (some failing) an actor's `$SRV.STATS`
 * reports, in each endpoint's `data`, outcomes by Connect code, calls in flight and a latency
 * histogram with p50/p95/p99; the Prometheus page rendered from every instance's STATS follows
 * the text exposition format, with cumulative histograms whose `_count` equals the requests
 * (docs/adr/0014-tracing-and-metrics.md).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  createNatsTransport,
  defineActor,
  implement,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { serviceStats } from "troupe/discovery";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "troupe/gateway";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { PaymentService } from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { createLatencyHistogram, quantileOf } from "../../runtime/observability/latency-histogram.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { deferred } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };
const ENDPOINT = "ProductService-GetProduct";

interface EndpointData {
  requests_by_code: Record<string, number>;
  in_flight: number;
  latency: {
    buckets: [number | "+Inf", number][];
    count: number;
    sum_seconds: number;
    p50_seconds: number;
    p95_seconds: number;
    p99_seconds: number;
  };
}

describe("latency histogram", () => {
  test("buckets are cumulative and quantiles interpolate inside the bucket", () => {
    const h = createLatencyHistogram([0.1, 0.2, 0.4]);
    for (const s of [0.05, 0.15, 0.15, 0.3, 9, Number.NaN]) h.observe(s);
    const snap = h.snapshot();
    assert.deepEqual(snap.buckets, [
      [0.1, 2], // 0.05 and NaN (counted as 0)
      [0.2, 4],
      [0.4, 5],
      ["+Inf", 6],
    ]);
    assert.equal(snap.count, 6);
    assert.ok(Math.abs(snap.sum_seconds - 9.65) < 1e-9);
    // Rank 3 of 6 falls halfway into (0.1, 0.2]: 0.15.
    assert.ok(Math.abs(snap.p50_seconds - 0.15) < 1e-9);
    // Rank 5.94 falls in +Inf: the highest finite bound.
    assert.equal(snap.p99_seconds, 0.4);
    assert.equal(quantileOf(0.5, []), 0);
  });
});

describe("endpoint metrics in $SRV.STATS and /metrics", () => {
  let server: NatsServer;
  let actorNc: NatsConnection;
  let clientNc: NatsConnection;
  let actor: RunningActor;
  let release: () => void = () => {};
  let entered: () => void = () => {};

  before(async () => {
    server = await startNatsServer();
    actorNc = await connect({ servers: server.url });
    clientNc = await connect({ servers: server.url });
    const definition = defineActor({
      name: "metered",
      version: "1.0.0",
      description: "answers, fails and waits on request",
      serves: [ProductService],
      calls: [PaymentService],
      services: (ctx) => [
        implement(ProductService, {
          async getProduct(req) {
            if (req.id === "downstream") {
              // A call to a service nobody serves: unavailable, counted by the breaker.
              await ctx
                .client(PaymentService)
                .getPayment({ id: "pay-1" })
                .catch(() => {});
              return { product: { id: req.id } };
            }
            if (req.id === "missing") throw new ConnectError("no such product", Code.NotFound);
            if (req.id === "crash") throw new Error("boom");
            if (req.id === "hold") {
              const released = new Promise<void>((resolve) => {
                release = resolve;
              });
              entered();
              await released;
            }
            return { product: { id: req.id } };
          },
        }),
      ],
    });
    actor = await serveActor(actorNc, definition, {
      logger: silentLogger,
      // The breaker of PaymentService opens after a few failures, and never half-opens here.
      policies: {
        targets: {
          "shop.v1.PaymentService": {
            breaker: { minCallsPerSecond: 0.1, windowMs: 60_000, halfOpenAfterMs: 600_000 },
            retry: { maxAttempts: 1 },
          },
        },
      },
      extraStats: () => ({ build: "metrics-test" }),
    });
  });

  after(async () => {
    await actor?.drain(0);
    await clientNc?.close();
    await actorNc?.close();
    await server?.dispose();
  });

  const products = () => createClient(ProductService, createNatsTransport({ nc: clientNc }));
  const endpointData = async (): Promise<EndpointData> => {
    const [stats] = await serviceStats(clientNc, { name: "metered" });
    const endpoint = stats?.endpoints.find((e) => e.name === ENDPOINT);
    assert.ok(endpoint?.data, "the endpoint reports data");
    return endpoint.data as EndpointData;
  };

  test("data counts requests by code, and the histogram holds every call", TIMEOUT, async () => {
    const client = products();
    for (let i = 0; i < 20; i++) await client.getProduct({ id: `p${i}` });
    for (let i = 0; i < 3; i++)
      assert.equal((await connectErrorOf(client.getProduct({ id: "missing" }))).code, Code.NotFound);
    assert.equal((await connectErrorOf(client.getProduct({ id: "crash" }))).code, Code.Internal);

    const data = await endpointData();
    assert.deepEqual(data.requests_by_code, { ok: 20, not_found: 3, internal: 1 });
    assert.equal(data.in_flight, 0);
    const { latency } = data;
    assert.equal(latency.count, 24);
    assert.equal(latency.buckets.at(-1)?.[1], 24, "+Inf holds every call");
    assert.ok(latency.sum_seconds > 0);
    assert.ok(latency.p50_seconds > 0);
    assert.ok(latency.p50_seconds <= latency.p95_seconds && latency.p95_seconds <= latency.p99_seconds);
    for (let i = 1; i < latency.buckets.length; i++) {
      assert.ok((latency.buckets[i]?.[1] ?? 0) >= (latency.buckets[i - 1]?.[1] ?? 0), "cumulative");
    }
    // ADR-32's own fields agree.
    const [stats] = await serviceStats(clientNc, { name: "metered" });
    const endpoint = stats?.endpoints.find((e) => e.name === ENDPOINT);
    assert.equal(endpoint?.num_requests, 24);
    assert.equal(endpoint?.num_errors, 4);
    assert.deepEqual(stats?.data, {
      build: "metrics-test",
      policies: { targets: [] },
      host: { inFlight: 0, shed: 0 },
    });
  });

  test("a call being handled counts as in flight until it is answered", TIMEOUT, async () => {
    const inside = deferred<void>();
    entered = inside.resolve;
    const call = products().getProduct({ id: "hold" });
    await inside.promise;
    assert.equal((await endpointData()).in_flight, 1);
    release();
    await call;
    assert.equal((await endpointData()).in_flight, 0);
  });

  test("the Prometheus page follows the exposition format", TIMEOUT, async () => {
    const text = await renderMetrics(clientNc);
    assert.match(PROMETHEUS_CONTENT_TYPE, /^text\/plain; version=0\.0\.4/);
    assert.ok(text.endsWith("\n"));
    const lines = text.trimEnd().split("\n");
    const metricName = "[a-zA-Z_:][a-zA-Z0-9_:]*";
    const label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\["\\\\n])*"';
    const sampleLine = new RegExp(
      `^(${metricName})(?:\\{(${label}(?:,${label})*)\\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$`,
    );
    const typed = new Map<string, string>();
    const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
    for (const line of lines) {
      if (line.startsWith("# HELP ")) {
        assert.match(line, new RegExp(`^# HELP ${metricName} .+$`));
      } else if (line.startsWith("# TYPE ")) {
        const [, , name, type] = line.split(" ");
        assert.ok(name !== undefined && ["counter", "gauge", "histogram"].includes(type ?? ""), line);
        assert.equal(typed.has(name), false, `one TYPE line for ${name}`);
        typed.set(name, type ?? "");
      } else {
        const match = sampleLine.exec(line);
        assert.ok(match, `a sample line: ${line}`);
        const labels: Record<string, string> = {};
        for (const [, k, v] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
          labels[k ?? ""] = v ?? "";
        }
        const name = match[1] ?? "";
        const family = name.replace(/_(bucket|sum|count)$/, "");
        assert.ok(typed.has(name) || typed.get(family) === "histogram", `${name} has a TYPE line before it`);
        samples.push({ name, labels, value: Number(match[3]) });
      }
    }
    const mine = (name: string) =>
      samples.filter(
        (s) => s.name === name && s.labels.service === "metered" && s.labels.endpoint === ENDPOINT,
      );
    const requests = mine("troupe_rpc_requests_total");
    const byCode = Object.fromEntries(requests.map((s) => [s.labels.code, s.value]));
    assert.deepEqual(byCode, { ok: 21, not_found: 3, internal: 1 });
    const buckets = mine("troupe_rpc_duration_seconds_bucket");
    assert.equal(buckets.at(-1)?.labels.le, "+Inf");
    for (let i = 1; i < buckets.length; i++) {
      assert.ok((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0), "buckets are cumulative");
      assert.ok(
        Number(buckets[i]?.labels.le) > Number(buckets[i - 1]?.labels.le) || buckets[i]?.labels.le === "+Inf",
      );
    }
    const count = mine("troupe_rpc_duration_seconds_count")[0]?.value;
    assert.equal(count, 25);
    assert.equal(
      count,
      requests.reduce((sum, s) => sum + s.value, 0),
      "_count equals the requests",
    );
    assert.equal(buckets.at(-1)?.value, count);
    assert.equal(mine("troupe_rpc_in_flight")[0]?.value, 0);
    assert.deepEqual(
      mine("troupe_rpc_duration_quantile_seconds").map((s) => s.labels.quantile),
      ["0.5", "0.95", "0.99"],
    );
    assert.equal(
      samples.find((s) => s.name === "troupe_host_in_flight" && s.labels.service === "metered")?.value,
      0,
    );
    assert.equal(
      samples.find((s) => s.name === "troupe_host_shed_total" && s.labels.service === "metered")?.value,
      0,
    );
  });

  test("the outgoing-call policies' state reaches STATS data and the Prometheus page", TIMEOUT, async () => {
    const client = products();
    for (let i = 0; i < 10; i++) await client.getProduct({ id: "downstream" });
    const [stats] = await serviceStats(clientNc, { name: "metered" });
    assert.ok(stats, "the actor answers STATS");
    const { policies } = stats.data as { policies: { targets: Record<string, unknown>[] } };
    const payment = policies.targets.find((t) => t.target === "shop.v1.PaymentService");
    assert.ok(payment, "the actor's calls to PaymentService are reported");
    assert.equal(payment.breaker, "open", "ten unavailable calls opened the circuit");
    assert.equal(payment.calls, 10);
    assert.ok((payment.shortCircuited as number) > 0, "later calls were refused without being sent");

    const text = await renderMetrics(clientNc);
    assert.match(
      text,
      new RegExp(
        `^troupe_circuit_state\\{service="metered",instance="${actor.id}",target="shop\\.v1\\.PaymentService",state="open"\\} 1$`,
        "m",
      ),
    );
    assert.match(text, /^troupe_client_calls_total\{[^}]*target="shop\.v1\.PaymentService"\} 10$/m);
  });
});
