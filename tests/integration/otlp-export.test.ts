/**
 * Tracing switched on by configuration: an actor process started with `TROUPE_OTLP_ENDPOINT`
 * exports its spans over OTLP/HTTP to a collector (here a small HTTP server standing in for an
 * OpenTelemetry Collector), with `service.name` set to the actor's name, and flushes what is
 * still buffered when it drains on SIGTERM (docs/adr/0014-tracing-and-metrics.md). Pointed at the
 * dashboard's receiver, as `troupe dev` points its processes, the spans show up there within
 * the export delay `OTEL_BSP_SCHEDULE_DELAY` asks for, while the actor runs.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport } from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { serveDashboard } from "../../runtime/cli/dashboard/serve-dashboard.ts";
import type { TraceSummary, TraceView } from "../../runtime/cli/dashboard/trace-store.ts";
import { type ActorProcess, startActorProcess } from "../support/actor-process.ts";
import { deferred, eventually, withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };

interface OtlpTraces {
  readonly resourceSpans: readonly {
    readonly resource: { readonly attributes: readonly { key: string; value: { stringValue?: string } }[] };
    readonly scopeSpans: readonly { readonly spans: readonly { name: string; kind: number }[] }[];
  }[];
}

interface Export {
  readonly path: string;
  readonly contentType: string;
  readonly body: string;
}

describe("OTLP export", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let collector: Server;
  let actor: ActorProcess | undefined;
  const exports: Export[] = [];
  const firstExport = deferred<Export>();

  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  };

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    collector = createServer(async (req, res) => {
      const received = {
        path: req.url ?? "",
        contentType: req.headers["content-type"] ?? "",
        body: await read(req),
      };
      exports.push(received);
      firstExport.resolve(received);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  });

  after(async () => {
    await actor?.kill();
    await nc?.close();
    await new Promise((resolve) => collector?.close(resolve));
    await server?.dispose();
  });

  test("an actor with TROUPE_OTLP_ENDPOINT exports its server spans, named after it", TIMEOUT, async () => {
    const { port } = collector.address() as AddressInfo;
    actor = await startActorProcess({
      runtime: "bun",
      file: "actors/product/main.ts",
      natsUrl: server.url,
      env: { TROUPE_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
    });
    const products = createClient(ProductService, createNatsTransport({ nc }));
    const { product } = await products.getProduct({ id: "p-1001" });
    assert.equal(product?.id, "p-1001");

    // Spans are batched; draining the actor flushes them.
    actor.signal("SIGTERM");
    const status = await actor.exited;
    assert.equal(status.code, 0, actor.output());
    const received = await withTimeout(firstExport.promise, 10_000, () => "no OTLP export arrived");
    assert.equal(received.path, "/v1/traces");
    assert.equal(received.contentType, "application/json");
    // OTLP/JSON (opentelemetry-proto ExportTraceServiceRequest): resource attributes and spans.
    const spans = exports.flatMap((e) => {
      const request = JSON.parse(e.body) as OtlpTraces;
      return request.resourceSpans.flatMap((rs) => {
        const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue;
        return rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ service, ...span })));
      });
    });
    const served = spans.find((span) => span.name === "shop.v1.ProductService/GetProduct");
    assert.ok(
      served,
      `the server span of the call was exported: ${spans.map((span) => span.name).join(", ")}`,
    );
    assert.equal(served.service, "product", "service.name is the actor's name");
    assert.equal(served.kind, 2, "SPAN_KIND_SERVER");
  });

  test(
    "an actor pointed at the dashboard shows its spans there within the export delay",
    TIMEOUT,
    async () => {
      const dashboard = await serveDashboard({ nc }, { port: 0, hostname: "127.0.0.1" });
      const own = await startActorProcess({
        runtime: "bun",
        file: "actors/product/main.ts",
        natsUrl: server.url,
        env: { TROUPE_OTLP_ENDPOINT: dashboard.url, OTEL_BSP_SCHEDULE_DELAY: "100" },
      });
      try {
        const products = createClient(ProductService, createNatsTransport({ nc }));
        await products.getProduct({ id: "p-1002" });
        let found: TraceSummary | undefined;
        // Well under the batch processor's default delay (5 s): the variable is what brings it.
        await eventually(
          async () => {
            const traces = (await (await fetch(`${dashboard.url}/api/traces`)).json()) as TraceSummary[];
            found = traces.find((t) => t.rootName === "shop.v1.ProductService/GetProduct");
            return found !== undefined;
          },
          "the actor's server span is on the dashboard",
          3_000,
        );
        assert.equal(found?.service, "product");
        const trace = (await (
          await fetch(`${dashboard.url}/api/traces/${found?.traceId}`)
        ).json()) as TraceView;
        assert.equal(trace.spans[0]?.kind, "server");
        assert.equal(trace.spans[0]?.attributes["rpc.method"], "GetProduct");
      } finally {
        await own.kill();
        await dashboard.stop(0);
      }
    },
  );
});
