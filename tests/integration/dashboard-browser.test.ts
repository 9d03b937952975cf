/**
 * The dashboard in a real browser: headless Chromium (scripts/ensure-chromium.sh,
 * TROUPE_CHROMIUM) opens its pages while in-process actors run on a harness nats-server. The
 * numbers on the pages are those `$SRV.STATS` and the JetStream API report, a dead letter is
 * redriven with the page's button, the events page shows an event as it is published, and a
 * request through the gateway shows as a trace whose waterfall has the gateway's and the actor's
 * spans (the fixture's SDK exports them over OTLP/HTTP to the dashboard).
 * Screenshots of each page are kept in a temporary folder, whose path is printed.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { serviceStats } from "troupe/discovery";
import { launchChromium } from "../support/chromium.ts";
import {
  DASHBOARD_NAMESPACE,
  type DashboardFixture,
  startDashboardFixture,
  TRACED_SERVICE,
} from "../support/dashboard-fixture.ts";
import { eventually } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };

const textOf = (text: string | null) => (text ?? "").trim();

describe("dashboard in a browser", () => {
  let f: DashboardFixture;
  let browser: Browser;
  let page: Page;
  const shots = mkdtempSync(join(tmpdir(), "troupe-dashboard-"));

  before(async () => {
    browser = await launchChromium();
    f = await startDashboardFixture({ traced: true });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    console.log(`dashboard screenshots: ${shots}`);
  }, TIMEOUT);
  after(async () => {
    await browser?.close();
    await f?.close();
  }, TIMEOUT);

  const cell = (row: string, field: string) =>
    page.locator(`${row} [data-field="${field}"]`).first().textContent().then(textOf);

  test("the services page shows the numbers of $SRV.STATS", TIMEOUT, async () => {
    for (let i = 0; i < 3; i++) await f.products.getProduct({ id: "p-1001" });
    await assert.rejects(f.products.getProduct({ id: "p-none" }));
    await page.goto(`${f.dashboard.url}/`);
    assert.equal(new URL(page.url()).pathname, "/services");
    const row = '[data-service="product"] tr[data-endpoint="ProductService-GetProduct"]';
    await page.locator(row).waitFor();
    const [stats] = await serviceStats(f.nc, { name: "product" });
    const endpoint = stats?.endpoints.find((e) => e.name === "ProductService-GetProduct");
    assert.ok(endpoint);
    assert.equal(await cell(row, "requests"), String(endpoint.num_requests));
    assert.equal(await cell(row, "errors"), String(endpoint.num_errors));
    assert.equal(endpoint.num_requests, 4);
    const p50 = (endpoint.data as { latency: { p50_seconds: number } }).latency.p50_seconds * 1_000;
    assert.equal(Number(await cell(row, "p50")), Number(p50 < 1 ? p50.toFixed(2) : p50.toFixed(1)));
    assert.equal(
      await page.locator('[data-service="welcomer"] tr[data-consumer="welcomer_UserRegistered"]').count(),
      1,
    );
    // The section polls its fragment: a new request shows up without a reload.
    await f.products.getProduct({ id: "p-1001" });
    await page.waitForFunction(
      (selector) => document.querySelector(selector)?.textContent === "5",
      `${row} [data-field="requests"]`,
      { timeout: 10_000 },
    );
    await page.screenshot({ path: join(shots, "services.png"), fullPage: true });
  });

  test("the streams page shows the JetStream API's figures", TIMEOUT, async () => {
    f.failing(false);
    await f.register("u-browser");
    await f.welcomed.next((e) => e.userId === "u-browser", "u-browser welcomed");
    const stream = `${DASHBOARD_NAMESPACE}_EVT_shop_v1`;
    // Figures that still move (the welcome handled, its ack on the way) cannot be compared.
    await eventually(async () => {
      const { num_pending, num_ack_pending } = await f.jsm.consumers.info(stream, "welcomer_UserRegistered");
      return num_pending === 0 && num_ack_pending === 0;
    }, "the welcomer has acknowledged everything");
    const info = await f.jsm.streams.info(stream);
    const consumer = await f.jsm.consumers.info(stream, "welcomer_UserRegistered");
    await page.goto(`${f.dashboard.url}/streams`);
    assert.equal(await cell(`tr[data-stream="${stream}"]`, "messages"), String(info.state.messages));
    const row = `tr[data-consumer="${stream}/welcomer_UserRegistered"]`;
    assert.equal(await cell(row, "pending"), String(consumer.num_pending));
    assert.equal(await cell(row, "ack-pending"), String(consumer.num_ack_pending));
    assert.equal(await cell(row, "lag"), String(consumer.num_pending + consumer.num_ack_pending));
    await page.screenshot({ path: join(shots, "streams.png"), fullPage: true });
  });

  test("a dead letter is inspected and redriven from the page", TIMEOUT, async () => {
    const seq = await f.deadLetter("u-browser-dead");
    await page.goto(`${f.dashboard.url}/dlq`);
    await page.locator(`tr[data-dead-letter="${seq}"]`).waitFor();
    await page.screenshot({ path: join(shots, "dead-letters.png"), fullPage: true });
    await page.locator(`tr[data-dead-letter="${seq}"] a`).click();
    await page.waitForURL(`**/dlq/${seq}`);
    assert.equal(
      await page.locator('[data-field="type"]').textContent().then(textOf),
      "shop.v1.UserRegistered",
    );
    assert.deepEqual(JSON.parse(await page.locator('[data-field="body"]').textContent().then(textOf)), {
      userId: "u-browser-dead",
      email: "u-browser-dead@example.com",
    });
    await page.screenshot({ path: join(shots, "dead-letter.png"), fullPage: true });

    f.failing(false);
    await page.locator(`button[data-redrive="${seq}"]`).click();
    await page.waitForURL(`**/dlq?redriven=${seq}`);
    assert.match(
      await page.locator("[data-notice]").textContent().then(textOf),
      new RegExp(`Redrove dead letter ${seq}`),
    );
    assert.equal(await page.locator(`tr[data-dead-letter="${seq}"]`).count(), 0);
    await f.welcomed.next((e) => e.userId === "u-browser-dead", "the redriven event");
    await page.screenshot({ path: join(shots, "redriven.png"), fullPage: true });
  });

  test("the events page shows events as they are published, decoded", TIMEOUT, async () => {
    await page.goto(`${f.dashboard.url}/events`);
    await page.waitForFunction(() => document.getElementById("events")?.dataset.connected === "true");
    await f.register("u-tail");
    const item = page.locator(
      `#events li[data-subject="${DASHBOARD_NAMESPACE}.evt.shop.v1.UserRegistered.u-tail"]`,
    );
    await item.waitFor({ timeout: 10_000 });
    assert.match(
      await item.textContent().then(textOf),
      /shop\.v1\.UserRegistered +\{"userId":"u-tail","email":"u-tail@example\.com"\}/,
    );
    await page.screenshot({ path: join(shots, "events.png"), fullPage: true });
  });

  test(
    "a request through the gateway is a trace: found by its request id, spans as a waterfall",
    TIMEOUT,
    async () => {
      assert.ok(f.gateway);
      const res = await fetch(`${f.gateway.url}/v1/products/p-1001`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const traceId = /^00-([0-9a-f]{32})-/.exec(res.headers.get("traceresponse") ?? "")?.[1];
      assert.ok(traceId, `traceresponse: ${res.headers.get("traceresponse")}`);
      const requestId = res.headers.get("x-request-id") ?? "";

      await page.goto(`${f.dashboard.url}/traces`);
      // The list polls: the trace appears once its spans are exported, without a reload.
      const row = page.locator(`tr[data-trace="${traceId}"]`);
      await row.waitFor({ timeout: 10_000 });
      assert.equal(await cell(`tr[data-trace="${traceId}"]`, "root"), "GET /v1/products/p-1001");
      assert.equal(await cell(`tr[data-trace="${traceId}"]`, "service"), TRACED_SERVICE);
      await page.waitForFunction(
        (selector) => document.querySelector(selector)?.textContent === "3",
        `tr[data-trace="${traceId}"] [data-field="spans"]`,
        { timeout: 10_000 },
      );
      await page.screenshot({ path: join(shots, "traces.png"), fullPage: true });

      await page.locator('input[name="q"]').fill(requestId);
      await page.locator('form[action="/traces"] button').click();
      await page.waitForURL(`**/traces/${traceId}`);
      assert.equal(await page.locator('[data-field="trace-id"]').textContent().then(textOf), traceId);
      const spans = page.locator("table.waterfall tr[data-span]");
      assert.equal(await spans.count(), 3);
      const rows = await spans.evaluateAll((trs) =>
        trs.map((tr) => ({
          name: tr.querySelector('[data-field="name"]')?.textContent?.trim(),
          kind: tr.querySelector('[data-field="kind"]')?.textContent?.trim(),
          depth: (tr as HTMLElement).dataset.depth,
          status: tr.querySelector('[data-field="status"]')?.textContent?.trim(),
          indent: Number.parseFloat(getComputedStyle(tr.querySelector("td") as Element).paddingLeft),
          barWidth: (tr.querySelector(".bar span") as HTMLElement).getBoundingClientRect().width,
        })),
      );
      assert.deepEqual(
        rows.map((r) => [r.name, r.kind, r.depth, r.status]),
        [
          ["GET /v1/products/p-1001", "server", "0", "unset"],
          ["shop.v1.ProductService/GetProduct", "client", "1", "unset"],
          ["shop.v1.ProductService/GetProduct", "server", "2", "unset"],
        ],
      );
      // Indented by parent; the root's bar spans the whole trace, the children's fit inside it.
      assert.ok(rows[0] && rows[1] && rows[2]);
      assert.ok(rows[0].indent < rows[1].indent && rows[1].indent < rows[2].indent, JSON.stringify(rows));
      assert.ok(rows[0].barWidth > 500, JSON.stringify(rows));
      assert.ok(rows[2].barWidth <= rows[1].barWidth && rows[1].barWidth <= rows[0].barWidth);
      await page.screenshot({ path: join(shots, "trace.png"), fullPage: true });
    },
  );
});
