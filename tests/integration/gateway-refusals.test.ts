/**
 * What the gateway refuses, and that it keeps serving afterwards: an oversize body, a flood over
 * the rate limit, a malformed JSON body, an unknown route; plus CORS preflights, health,
 * readiness (which follows the actors in discovery) and the gateway's own `$SRV` identity.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pingServices } from "troupe/discovery";
import { Header } from "troupe/protocol";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 30_000 };
const GET_PRODUCT = "/shop.v1.ProductService/GetProduct";

interface ErrorBody {
  code: string;
  message: string;
}

describe("gateway: refusals, health and readiness", () => {
  let fx: GatewayFixture;
  before(async () => {
    fx = await startGatewayFixture({ bodyLimitBytes: 4096, corsOrigins: ["https://shop.example"] });
  });
  after(async () => {
    await fx?.close();
  });

  const getProduct = (url = fx.url, body = '{"id":"p-1001"}') =>
    fetch(`${url}${GET_PRODUCT}`, { method: "POST", headers: { "content-type": "application/json" }, body });

  const stillServes = async (url = fx.url) => {
    const res = await getProduct(url);
    assert.equal(res.status, 200, "the gateway keeps serving");
    await res.body?.cancel();
  };

  test("an oversize body is refused with 413", TIMEOUT, async () => {
    const big = JSON.stringify({ id: "x".repeat(10_000) });
    const res = await getProduct(fx.url, big);
    assert.equal(res.status, 413);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.code, "resource_exhausted");
    assert.match(body.message, /limit of 4096 bytes/);

    // Without a content length (a streamed body) the limit holds too.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(" ".repeat(1000)));
        controller.close();
      },
    });
    const streamed = await fetch(`${fx.url}${GET_PRODUCT}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunks,
      duplex: "half",
    } as RequestInit);
    assert.equal(streamed.status, 413);
    await streamed.body?.cancel();
    await stillServes();
  });

  test("a malformed JSON body is invalid_argument (400)", TIMEOUT, async () => {
    const res = await getProduct(fx.url, '{"id": ');
    assert.equal(res.status, 400);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.code, "invalid_argument");
    assert.ok(body.message.length > 0);
    const wrongType = await getProduct(fx.url, '{"id": 12}');
    assert.equal(wrongType.status, 400);
    await wrongType.body?.cancel();
    await stillServes();
  });

  test("an unknown route is 404 with a JSON error", TIMEOUT, async () => {
    const res = await fetch(`${fx.url}/no/such/route`);
    assert.equal(res.status, 404);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.code, "not_found");
    assert.match(body.message, /no route for GET \/no\/such\/route/);
    assert.ok(res.headers.get(Header.requestId));
    const unknownMethod = await fetch(`${fx.url}/shop.v1.ProductService/Nope`, {
      method: "POST",
      body: "{}",
    });
    assert.equal(unknownMethod.status, 404);
    await unknownMethod.body?.cancel();
    await stillServes();
  });

  test(
    "a flood over the rate limit gets 429 with Retry-After; other clients are unaffected",
    TIMEOUT,
    async () => {
      const limited = await fx.extraGateway({ rateLimit: { perSecond: 1, burst: 5 } });
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await getProduct(limited.url);
        statuses.push(res.status);
        if (res.status === 429) {
          assert.ok(Number(res.headers.get("retry-after")) >= 1);
          const body = (await res.json()) as ErrorBody;
          assert.equal(body.code, "resource_exhausted");
          assert.match(body.message, /too many requests/);
        } else await res.body?.cancel();
      }
      assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200], "the burst passes");
      assert.ok(
        statuses.slice(5).every((s) => s === 429),
        `then refused: ${statuses.join(",")}`,
      );
      // The limit is per gateway instance: the first gateway still serves the same client.
      await stillServes();
    },
  );

  test("CORS: allowed origins get a preflight answer", TIMEOUT, async () => {
    const res = await fetch(`${fx.url}${GET_PRODUCT}`, {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version",
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://shop.example");
    assert.match(res.headers.get("access-control-allow-headers") ?? "", /connect-protocol-version/);
    const other = await fetch(`${fx.url}/healthz`, { headers: { origin: "https://evil.example" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    await other.body?.cancel();
  });

  test("healthz, readyz and the gateway in discovery", TIMEOUT, async () => {
    const health = await fetch(`${fx.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();

    const ready = await fetch(`${fx.url}/readyz`);
    assert.equal(ready.status, 200, await ready.clone().text());
    const readiness = (await ready.json()) as { instances: Record<string, number> };
    assert.equal(readiness.instances["shop.v1.ProductService"], 1);

    // A gateway fronting a service no actor serves is not ready, and says which one is missing.
    const { OrderService } = await import("../../proto/gen/shop/v1/order_pb.ts");
    const { ProductService } = await import("../../proto/gen/shop/v1/product_pb.ts");
    const partial = await fx.extraGateway({ services: [ProductService, OrderService] });
    const notReady = await fetch(`${partial.url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(((await notReady.json()) as { missing: string[] }).missing, ["shop.v1.OrderService"]);

    const pings = await pingServices(fx.gateway.gateway.options.nc, { name: "gateway" });
    assert.ok(
      pings.some((p) => p.id === fx.gateway.responder?.id),
      "the gateway answers $SRV.PING",
    );
  });
});
