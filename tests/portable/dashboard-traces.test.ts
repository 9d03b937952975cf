/**
 * The dashboard's traces (runtime/cli/dashboard/trace-store.ts and its routes): a real request
 * through a real gateway to the product actor, traced by the OpenTelemetry SDK whose real OTLP/HTTP
 * exporter (JSON) posts to the dashboard's `/v1/traces`, reads back as one trace gateway → client
 * → server with the right parents, found by the gateway's `traceresponse` or `x-request-id`;
 * malformed exports get clear errors; only the most recent traces are kept.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createDashboard } from "../../runtime/cli/dashboard/create-dashboard.ts";
import { createTraceStore, type TraceView } from "../../runtime/cli/dashboard/trace-store.ts";
import {
  type DashboardFixture,
  startDashboardFixture,
  TRACED_SERVICE,
} from "../support/dashboard-fixture.ts";
import { eventually } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };
const JSON_POST = { "content-type": "application/json" };

/** An OTLP JSON export request with one span per entry, as the JS exporter encodes it. */
function exportRequest(
  spans: readonly { traceId: string; spanId: string; parentSpanId?: string; name: string; startMs: number }[],
) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "unit" } }] },
        scopeSpans: [
          {
            scope: { name: "test" },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId === undefined ? {} : { parentSpanId: s.parentSpanId }),
              name: s.name,
              kind: 2,
              startTimeUnixNano: `${s.startMs}000000`,
              endTimeUnixNano: `${s.startMs + 5}000000`,
              attributes: [{ key: "n", value: { intValue: 3 } }],
              status: { code: 0 },
            })),
          },
        ],
      },
    ],
  };
}

describe("dashboard traces", () => {
  let f: DashboardFixture;
  const get = (path: string, init?: RequestInit) => fetch(`${f.dashboard.url}${path}`, init);

  before(async () => {
    f = await startDashboardFixture({ traced: true });
  });
  after(async () => {
    await f?.close();
  });

  test(
    "a call through the gateway is one trace on the dashboard, gateway → client → server",
    TIMEOUT,
    async () => {
      assert.ok(f.gateway);
      const res = await fetch(`${f.gateway.url}/v1/products/p-1001`);
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
      const traceResponse = res.headers.get("traceresponse") ?? "";
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(traceResponse);
      assert.ok(match, `traceresponse: ${traceResponse}`);
      const [, traceId, gatewaySpanId] = match;
      let trace: TraceView | undefined;
      await eventually(async () => {
        const answer = await get(`/api/traces/${traceId}`);
        if (answer.status !== 200) {
          await answer.body?.cancel();
          return false;
        }
        trace = (await answer.json()) as TraceView;
        return trace.spanCount >= 3;
      }, "the gateway's, the client's and the actor's spans reached the dashboard");
      assert.ok(trace);
      assert.equal(trace.rootName, "GET /v1/products/p-1001");
      assert.equal(trace.service, TRACED_SERVICE);
      assert.equal(trace.errorCount, 0);
      const [root, client, server] = trace.spans;
      assert.deepEqual(
        trace.spans.map((s) => [s.name, s.kind, s.depth]),
        [
          ["GET /v1/products/p-1001", "server", 0],
          ["shop.v1.ProductService/GetProduct", "client", 1],
          ["shop.v1.ProductService/GetProduct", "server", 2],
        ],
      );
      assert.equal(root?.spanId, gatewaySpanId);
      assert.equal(client?.parentSpanId, root?.spanId);
      assert.equal(server?.parentSpanId, client?.spanId);
      assert.equal(server?.attributes["rpc.method"], "GetProduct");
      assert.ok((server?.offsetMs ?? -1) >= (client?.offsetMs ?? 0));
      assert.ok((root?.durationMs ?? 0) >= (server?.durationMs ?? Number.POSITIVE_INFINITY));
      // The trace lasts from its first start to its last end: its root's time at least (a child's
      // end may be recorded a moment after the root's, as the gateway answers before its client span ends).
      assert.ok(trace.durationMs >= (root?.durationMs ?? Number.POSITIVE_INFINITY), `${trace.durationMs} ms`);

      const list = (await (await get("/api/traces")).json()) as { traceId: string; spanCount: number }[];
      assert.equal(list.find((t) => t.traceId === traceId)?.spanCount, 3);

      // Found by the response's traceresponse, its trace id and its x-request-id alike.
      const requestId = res.headers.get("x-request-id") ?? "";
      assert.notEqual(requestId, "");
      for (const q of [traceResponse, traceId, requestId]) {
        const found = await get(`/traces?q=${encodeURIComponent(q ?? "")}`, { redirect: "manual" });
        assert.equal(found.status, 303, `search ${q}`);
        assert.equal(found.headers.get("location"), `/traces/${traceId}`);
      }
      const missing = await get(`/traces?q=${"ab".repeat(16)}`);
      assert.equal(missing.status, 404);
      assert.match(await missing.text(), /No trace abab/);

      const page = await (await get(`/traces/${traceId}`)).text();
      assert.match(page, new RegExp(`<tr data-span="${gatewaySpanId}" data-parent="" data-depth="0">`));
      assert.match(page, new RegExp(`data-parent="${client?.spanId}" data-depth="2"`));
      const listPage = await (await get("/traces")).text();
      assert.match(listPage, new RegExp(`<tr data-trace="${traceId}">`));
    },
  );

  test("malformed exports are refused with the reason", TIMEOUT, async () => {
    const proto = await get("/v1/traces", {
      method: "POST",
      headers: { "content-type": "application/x-protobuf" },
      body: new Uint8Array([10, 0]),
    });
    assert.equal(proto.status, 415);
    assert.match((await proto.json()).message, /JSON encoding/);
    const broken = await get("/v1/traces", { method: "POST", headers: JSON_POST, body: "{" });
    assert.equal(broken.status, 400);
    await broken.body?.cancel();
    const notArray = await get("/v1/traces", {
      method: "POST",
      headers: JSON_POST,
      body: JSON.stringify({ resourceSpans: {} }),
    });
    assert.equal(notArray.status, 400);
    assert.match((await notArray.json()).message, /"resourceSpans" is not an array/);

    const traceId = "1".repeat(32);
    const partly = exportRequest([
      { traceId, spanId: "a".repeat(16), name: "kept", startMs: 1_000 },
      { traceId: "not-hex", spanId: "b".repeat(16), name: "bad", startMs: 1_000 },
    ]);
    const partial = await get("/v1/traces", {
      method: "POST",
      headers: JSON_POST,
      body: JSON.stringify(partly),
    });
    assert.equal(partial.status, 200);
    const answer = await partial.json();
    assert.equal(answer.partialSuccess.rejectedSpans, 1);
    assert.match(answer.partialSuccess.errorMessage, /traceId "not-hex" is not 32 hex digits/);
    const kept = (await (await get(`/api/traces/${traceId}`)).json()) as TraceView;
    assert.deepEqual(
      kept.spans.map((s) => [s.name, s.service, s.attributes.n]),
      [["kept", "unit", 3]],
    );

    // Gzipped, as an exporter with compression sends it.
    const gzipId = "2".repeat(32);
    const body = new Blob([
      JSON.stringify(
        exportRequest([{ traceId: gzipId, spanId: "c".repeat(16), name: "zipped", startMs: 2_000 }]),
      ),
    ])
      .stream()
      .pipeThrough(new CompressionStream("gzip"));
    const zipped = await get("/v1/traces", {
      method: "POST",
      headers: { ...JSON_POST, "content-encoding": "gzip" },
      body: new Uint8Array(await new Response(body).arrayBuffer()),
    });
    assert.equal(zipped.status, 200);
    await zipped.body?.cancel();
    assert.equal(((await (await get(`/api/traces/${gzipId}`)).json()) as TraceView).rootName, "zipped");
  });

  test("a dashboard off loopback receives no traces", TIMEOUT, async () => {
    const app = createDashboard({ nc: f.nc, admin: false });
    const res = await app.fetch(
      new Request("http://192.0.2.1:8090/v1/traces", {
        method: "POST",
        headers: JSON_POST,
        body: JSON.stringify(exportRequest([])),
      }),
    );
    assert.equal(res.status, 403);
    assert.match((await res.json()).message, /loopback/);
  });
});

describe("trace store", () => {
  test("keeps the most recent traces, roots and orphans at depth 0", () => {
    const store = createTraceStore({ maxTraces: 2 });
    const id = (n: number) => String(n).repeat(32);
    for (const n of [1, 2, 3]) {
      store.receive(
        exportRequest([{ traceId: id(n), spanId: "a".repeat(16), name: `t${n}`, startMs: n * 1_000 }]),
      );
    }
    assert.deepEqual(
      store.list().map((t) => t.rootName),
      ["t3", "t2"],
    );
    assert.equal(store.get(id(1)), undefined);
    // A span of trace 2 arrives late: trace 2 is now the most recently updated, 3 goes next.
    store.receive(
      exportRequest([
        {
          traceId: id(2),
          spanId: "b".repeat(16),
          parentSpanId: "a".repeat(16),
          name: "child",
          startMs: 2_001,
        },
        {
          traceId: id(2),
          spanId: "c".repeat(16),
          parentSpanId: "f".repeat(16),
          name: "orphan",
          startMs: 2_002,
        },
      ]),
    );
    store.receive(exportRequest([{ traceId: id(4), spanId: "a".repeat(16), name: "t4", startMs: 4_000 }]));
    assert.deepEqual(
      store.list().map((t) => t.rootName),
      ["t4", "t2"],
    );
    const two = store.get(id(2));
    assert.deepEqual(
      two?.spans.map((s) => [s.name, s.depth, s.offsetMs]),
      [
        ["t2", 0, 0],
        ["child", 1, 1],
        ["orphan", 0, 2],
      ],
    );
    assert.equal(two?.durationMs, 7);
    assert.equal(two?.spanCount, 3);
  });
});
