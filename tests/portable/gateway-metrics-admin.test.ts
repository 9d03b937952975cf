/**
 * `/metrics` off the public port (docs/adr/0025-metrics-for-every-part.md): the gateway's public
 * port answers 404 for it over HTTP/1.1 and HTTP/2, the admin listener on 127.0.0.1 serves it;
 * an admin listener bound anywhere else needs an admin token, and then refuses requests without
 * it (docs/adr/0029-a-hardened-edge.md); a page is rendered once per cache period however many
 * scrapes come, and concurrent scrapes share one `$SRV.STATS` fan-out (counted here by a plain
 * subscription on the subject the fan-out asks).
 */
import assert from "node:assert/strict";
import { connect as connectHttp2 } from "node:http2";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { PROMETHEUS_CONTENT_TYPE, type RunningGateway, serveGateway } from "troupe/gateway";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { cachedMetrics } from "../../runtime/gateway/metrics-cache.ts";
import { deferred } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };

describe("the gateway's admin listener", () => {
  let server: NatsServer;
  let gatewayNc: NatsConnection;
  let counterNc: NatsConnection;
  let statsRequests = 0;
  const gateways: RunningGateway[] = [];

  before(async () => {
    server = await startNatsServer();
    gatewayNc = await connect({ servers: server.url });
    counterNc = await connect({ servers: server.url });
    // Sees every fan-out: renderMetrics asks `$SRV.STATS` once per page.
    counterNc.subscribe("$SRV.STATS", {
      callback: () => {
        statsRequests++;
      },
    });
    await counterNc.flush();
  });

  after(async () => {
    for (const g of gateways) await g.stop(1_000);
    await counterNc?.close();
    await gatewayNc?.close();
    await server?.dispose();
  });

  const start = async (
    metricsCacheMs: number,
    admin = true,
    more: { adminToken?: string; adminHostname?: string } = {},
  ) => {
    const g = await serveGateway(
      {
        nc: gatewayNc,
        services: [ProductService],
        metricsCacheMs,
        ...(more.adminToken === undefined ? {} : { adminToken: more.adminToken }),
      },
      {
        port: 0,
        hostname: "127.0.0.1",
        runtime: "test",
        ...(admin ? { adminPort: 0 } : {}),
        ...(more.adminHostname === undefined ? {} : { adminHostname: more.adminHostname }),
      },
    );
    gateways.push(g);
    return g;
  };
  /** `$SRV.STATS` requests seen so far (the flush makes sure every one sent before has arrived). */
  const fanOuts = async () => {
    await counterNc.flush();
    return statsRequests;
  };

  test(
    "the public port answers 404 for /metrics; the admin listener on 127.0.0.1 serves it",
    TIMEOUT,
    async () => {
      const g = await start(0);
      const publicPage = await fetch(`${g.url}/metrics`);
      assert.equal(publicPage.status, 404);
      await publicPage.body?.cancel();
      assert.ok(g.admin, "an admin listener");
      assert.match(g.admin.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(g.admin.port, g.server.port);
      assert.equal(g.metricsUrl, `${g.admin.url}/metrics`);
      const page = await fetch(g.metricsUrl ?? "");
      assert.equal(page.status, 200);
      assert.equal(page.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
      assert.match(
        await page.text(),
        /^troupe_instance_info\{service="gateway",instance="[^"]+",version="[^"]+"\} 1$/m,
      );
      const other = await fetch(`${g.admin.url}/v1/products/p-1`);
      assert.equal(other.status, 404, "the admin listener serves nothing of the public API");
      await other.body?.cancel();
    },
  );

  test("the public port has no admin endpoint over HTTP/2 either", TIMEOUT, async () => {
    const g = await start(0);
    const session = connectHttp2(g.url);
    try {
      for (const path of ["/metrics", "/metrics/", "/METRICS", "/admin", "//metrics"]) {
        const status = await new Promise<number>((resolve, reject) => {
          const req = session.request({ ":path": path });
          req.on("response", (headers) => resolve(Number(headers[":status"])));
          req.on("error", reject);
          req.resume();
        });
        assert.equal(status, 404, path);
      }
    } finally {
      session.close();
    }
  });

  test("an admin listener off loopback needs a token, and then asks for it", TIMEOUT, async () => {
    await assert.rejects(
      start(0, true, { adminHostname: "0.0.0.0" }),
      /admin listener on 0\.0\.0\.0 would serve \/metrics to other machines without a token: set an admin token \(GATEWAY_ADMIN_TOKEN\)/,
    );
    await assert.rejects(
      start(0, true, { adminToken: "short" }),
      /adminToken must be at least 16 characters/,
    );
    const token = "an-admin-token-of-some-length";
    const g = await start(0, true, { adminToken: token, adminHostname: "0.0.0.0" });
    const url = `http://127.0.0.1:${g.admin?.port}/metrics`;
    for (const authorization of [undefined, "Bearer wrong-token-of-some-length", `Basic ${token}`, token]) {
      const res = await fetch(url, authorization === undefined ? {} : { headers: { authorization } });
      assert.equal(res.status, 401, String(authorization));
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
      await res.body?.cancel();
    }
    const page = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /troupe_instance_info/);
  });

  test("without adminPort there is no admin listener", TIMEOUT, async () => {
    const g = await start(0, false);
    assert.equal(g.admin, undefined);
    assert.equal(g.metricsUrl, undefined);
    const res = await fetch(`${g.url}/metrics`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });

  test("two scrapes within the cache time cause one fan-out", TIMEOUT, async () => {
    const g = await start(60_000);
    const before = await fanOuts();
    const first = await (await fetch(g.metricsUrl ?? "")).text();
    const second = await (await fetch(g.metricsUrl ?? "")).text();
    assert.equal((await fanOuts()) - before, 1, "the second scrape was served from the cache");
    assert.equal(second, first);
  });

  test(
    "concurrent scrapes share one fan-out; without a cache the next scrape asks again",
    TIMEOUT,
    async () => {
      const g = await start(0);
      const before = await fanOuts();
      const pages = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const res = await fetch(g.metricsUrl ?? "");
          assert.equal(res.status, 200);
          return res.text();
        }),
      );
      assert.equal((await fanOuts()) - before, 1, "five concurrent scrapes, one fan-out");
      assert.equal(new Set(pages).size, 1);
      await (await fetch(g.metricsUrl ?? "")).text();
      assert.equal((await fanOuts()) - before, 2, "metricsCacheMs 0: a later scrape renders anew");
    },
  );
});

describe("cachedMetrics", () => {
  test("serves a page until it is ttlMs old, keeps no failure, and refuses a bad ttl", async () => {
    let now = 0;
    let renders = 0;
    let fail = false;
    const page = cachedMetrics(
      async () => {
        renders++;
        if (fail) throw new Error("discovery failed");
        return `page ${renders}`;
      },
      { ttlMs: 1_000, now: () => now },
    );
    assert.equal(await page(), "page 1");
    now = 999;
    assert.equal(await page(), "page 1");
    now = 1_000;
    fail = true;
    await assert.rejects(page(), /discovery failed/);
    fail = false;
    assert.equal(await page(), "page 3", "the failure was not kept");
    assert.equal(renders, 3);
    assert.throws(() => cachedMetrics(async () => "", { ttlMs: -1 }), /metricsCacheMs must be/);
  });

  test("a scrape during a render waits for it", async () => {
    const rendered = deferred<string>();
    let renders = 0;
    const page = cachedMetrics(
      () => {
        renders++;
        return rendered.promise;
      },
      { ttlMs: 0 },
    );
    const a = page();
    const b = page();
    rendered.resolve("the page");
    assert.deepEqual(await Promise.all([a, b]), ["the page", "the page"]);
    assert.equal(renders, 1);
  });
});
