/**
 * The dashboard's HTTP routes without a browser (runtime/cli/dashboard/): against real actors on
 * a harness nats-server, the JSON answers hold the numbers `$SRV.STATS` and the JetStream API
 * report, the HTML pages show them, a dead letter is inspected decoded and redriven, the SSE
 * stream carries a decoded event, and the admin guards refuse what they should.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, type ConnectError } from "@connectrpc/connect";
import { serviceStats } from "troupe/discovery";
import { createDashboard } from "../../runtime/cli/dashboard/create-dashboard.ts";
import { isLoopback } from "../../runtime/cli/dashboard/serve-dashboard.ts";
import {
  DASHBOARD_NAMESPACE,
  type DashboardFixture,
  startDashboardFixture,
} from "../support/dashboard-fixture.ts";
import { withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };
/** A script's POST: JSON, which a cross-site form cannot send (so hono/csrf lets it through). */
const JSON_POST = { "content-type": "application/json" };

describe("dashboard routes", () => {
  let f: DashboardFixture;
  const get = (path: string, init?: RequestInit) => fetch(`${f.dashboard.url}${path}`, init);
  const json = async (path: string) => {
    const res = await get(path);
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return res.json();
  };

  before(async () => {
    f = await startDashboardFixture();
  });
  after(async () => {
    await f?.close();
  });

  test("services: requests, errors and quantiles are those of $SRV.STATS", TIMEOUT, async () => {
    for (let i = 0; i < 5; i++) await f.products.getProduct({ id: "p-1001" });
    await assert.rejects(
      f.products.getProduct({ id: "p-none" }),
      (err: ConnectError) => err.code === Code.NotFound,
    );
    const services = await json("/api/services");
    const product = services.find((s: { name: string }) => s.name === "product");
    assert.ok(product, JSON.stringify(services.map((s: { name: string }) => s.name)));
    const endpoint = product.endpoints.find((e: { name: string }) => e.name === "ProductService-GetProduct");
    assert.ok(endpoint, JSON.stringify(product.endpoints));
    const [stats] = await serviceStats(f.nc, { name: "product" });
    const reported = stats?.endpoints.find((e) => e.name === endpoint.name);
    assert.ok(reported);
    assert.equal(endpoint.requests, 6);
    assert.equal(endpoint.requests, reported.num_requests);
    assert.equal(endpoint.errors, 1);
    assert.equal(endpoint.errors, reported.num_errors);
    const latency = (reported.data as { latency: { p50_seconds: number; p99_seconds: number } }).latency;
    assert.ok(endpoint.p50Ms > 0);
    assert.ok(Math.abs(endpoint.p50Ms - latency.p50_seconds * 1_000) < 1e-9);
    assert.ok(Math.abs(endpoint.p99Ms - latency.p99_seconds * 1_000) < 1e-9);
    assert.equal(product.instances.length, 1);
    assert.deepEqual(product.versions, [stats?.version]);
    const welcomer = services.find((s: { name: string }) => s.name === "welcomer");
    assert.equal(welcomer.consumers[0].consumer, "welcomer_UserRegistered");

    const page = await get("/services");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    const text = await page.text();
    assert.match(text, /<section data-poll="\/services\?fragment=1">/);
    assert.match(
      text,
      /<tr data-endpoint="ProductService-GetProduct">[\s\S]*?data-field="requests">6<\/td>[\s\S]*?data-field="errors"[^>]*>1<\/td>/,
    );
    const fragment = await (await get("/services?fragment=1")).text();
    assert.doesNotMatch(fragment, /<html/);
    assert.match(fragment, /data-service="product"/);
  });

  test("streams: messages and consumer figures are those of the JetStream API", TIMEOUT, async () => {
    f.failing(false);
    await f.register("u-stream");
    await f.welcomed.next((e) => e.userId === "u-stream", "u-stream welcomed");
    const view = await json("/api/streams");
    const stream = `${DASHBOARD_NAMESPACE}_EVT_shop_v1`;
    const row = view.streams.find((s: { name: string }) => s.name === stream);
    assert.ok(row, JSON.stringify(view.streams));
    const info = await f.jsm.streams.info(stream);
    assert.equal(row.messages, info.state.messages);
    assert.ok(row.messages >= 1);
    const consumer = view.consumers.find((c: { name: string }) => c.name === "welcomer_UserRegistered");
    const cinfo = await f.jsm.consumers.info(stream, "welcomer_UserRegistered");
    assert.equal(consumer.pending, cinfo.num_pending);
    assert.equal(consumer.ackPending, cinfo.num_ack_pending);
    assert.equal(consumer.redelivered, cinfo.num_redelivered);
    const text = await (await get("/streams")).text();
    assert.match(
      text,
      new RegExp(`<tr data-stream="${stream}">[\\s\\S]*?data-field="messages">${info.state.messages}<`),
    );
  });

  test("dead letters: listed, inspected decoded, redriven", TIMEOUT, async () => {
    const seq = await f.deadLetter("u-dead");
    const letters = await json("/api/dlq");
    const letter = letters.find((l: { seq: number }) => l.seq === seq);
    assert.ok(letter, JSON.stringify(letters));
    assert.equal(letter.consumer, "welcomer_UserRegistered");
    assert.match(letter.error, /the welcome desk is closed/);
    const detail = await json(`/api/dlq/${seq}`);
    assert.equal(detail.type, "shop.v1.UserRegistered");
    assert.deepEqual(detail.body, { userId: "u-dead", email: "u-dead@example.com" });
    const page = await (await get(`/dlq/${seq}`)).text();
    assert.match(page, /&quot;userId&quot;: &quot;u-dead&quot;/);
    assert.match(page, /data-redrive="\d+"/);
    assert.equal((await get("/api/dlq/999999")).status, 404);
    assert.equal((await get("/dlq/nope")).status, 404);

    // A form POST from another origin is refused (hono/csrf), and so is a foreign Host.
    const foreign = await get(`/dlq/${seq}/redrive`, {
      method: "POST",
      headers: { origin: "http://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: "",
      redirect: "manual",
    });
    assert.equal(foreign.status, 403);
    const rebound = await createDashboard({ nc: f.nc, namespace: DASHBOARD_NAMESPACE, admin: true }).fetch(
      new Request(`http://attacker.example/api/dlq/${seq}/redrive`, { method: "POST", headers: JSON_POST }),
    );
    assert.equal(rebound.status, 421);
    const readOnly = await createDashboard({ nc: f.nc, namespace: DASHBOARD_NAMESPACE, admin: false }).fetch(
      new Request(`http://10.0.0.1/api/dlq/${seq}/redrive`, { method: "POST", headers: JSON_POST }),
    );
    assert.equal(readOnly.status, 403);
    assert.ok(
      (await json("/api/dlq")).some((l: { seq: number }) => l.seq === seq),
      "still dead",
    );

    f.failing(false);
    const redriven = await get(`/dlq/${seq}/redrive`, {
      method: "POST",
      headers: { origin: f.dashboard.url, "content-type": "application/x-www-form-urlencoded" },
      body: "",
      redirect: "manual",
    });
    assert.equal(redriven.status, 303);
    assert.equal(redriven.headers.get("location"), `/dlq?redriven=${seq}`);
    await f.welcomed.next((e) => e.userId === "u-dead", "the redriven event");
    assert.ok(!(await json("/api/dlq")).some((l: { seq: number }) => l.seq === seq), "redriven: gone");
    assert.equal((await get(`/api/dlq/${seq}/redrive`, { method: "POST", headers: JSON_POST })).status, 404);
  });

  test("events: the SSE stream carries each event decoded", TIMEOUT, async () => {
    const stop = new AbortController();
    const res = await get("/api/events", { signal: stop.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let seen = "";
    const readUntil = async (match: RegExp) => {
      while (!match.test(seen)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended: ${seen}`);
        seen += decoder.decode(value, { stream: true });
      }
    };
    await withTimeout(readUntil(/: subscribed/), 10_000, () => seen);
    f.failing(false);
    await f.register("u-live");
    await withTimeout(readUntil(/"userId":"u-live"/), 10_000, () => seen);
    const line = seen.split("\n").find((l) => l.includes('"userId":"u-live"')) ?? "";
    const record = JSON.parse(line.replace(/^data: /, ""));
    assert.equal(record.type, "shop.v1.UserRegistered");
    assert.equal(record.subject, `${DASHBOARD_NAMESPACE}.evt.shop.v1.UserRegistered.u-live`);
    assert.match(seen, /event: traffic/);
    stop.abort();
    await reader.cancel().catch(() => {});
  });

  test("loopback is 127.0.0.0/8, ::1 and localhost only", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
      assert.ok(isLoopback(host), host);
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "127.0.0.1.example.com"]) {
      assert.ok(!isLoopback(host), host);
    }
  });
});
