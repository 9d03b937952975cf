/**
 * The rate limit ahead of every route (docs/adr/0029-a-hardened-edge.md): on by default; every
 * kind of request counts against one bucket per client before any work — health, readiness,
 * OpenAPI, REST, Connect, gRPC-Web, gRPC, reflection, and unknown routes of both kinds — and
 * each is refused with 429 / resource_exhausted and a Retry-After once the bucket is empty.
 * Clients are told apart by peer address; X-Forwarded-For only from a trusted proxy.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "troupe";
import { createGateway, defaultGatewayOptions } from "troupe/gateway";
import * as reflection from "troupe/gen/grpc/reflection/v1/reflection_pb.js";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { createClientKey } from "../../runtime/gateway/client-key.ts";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 30_000 };

/** What a refused request looked like, whatever its protocol. */
interface Outcome {
  readonly refused: boolean;
  readonly retryAfter: string | null;
}

async function overHttp(res: Response): Promise<Outcome> {
  const retryAfter = res.headers.get("retry-after");
  await res.body?.cancel();
  return { refused: res.status === 429, retryAfter };
}

async function overRpc(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    await call();
    return { refused: false, retryAfter: null };
  } catch (e) {
    const err = ConnectError.from(e);
    return {
      refused: err.code === Code.ResourceExhausted && /too many requests/.test(err.rawMessage),
      retryAfter: err.metadata.get("retry-after"),
    };
  }
}

describe("the rate limit ahead of every route", () => {
  let fx: GatewayFixture;
  before(async () => {
    fx = await startGatewayFixture();
  });
  after(async () => {
    await fx?.close();
  });

  test(
    "every kind of request counts, and every kind is refused once the bucket is empty",
    TIMEOUT,
    async () => {
      const kinds: [string, (url: string) => Promise<Outcome>][] = [
        ["GET /healthz", async (url) => overHttp(await fetch(`${url}/healthz`))],
        ["GET /readyz", async (url) => overHttp(await fetch(`${url}/readyz`))],
        ["GET /openapi.json", async (url) => overHttp(await fetch(`${url}/openapi.json`))],
        ["REST", async (url) => overHttp(await fetch(`${url}/v1/products/p-1001`))],
        ["unknown route", async (url) => overHttp(await fetch(`${url}/no/such/route`))],
        [
          "Connect",
          (url) => overRpc(() => products(createConnectTransport({ baseUrl: url, httpVersion: "1.1" }))),
        ],
        [
          "gRPC-Web",
          (url) => overRpc(() => products(createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" }))),
        ],
        ["gRPC", (url) => overRpc(() => products(createGrpcTransport({ baseUrl: url })))],
        [
          "gRPC, unknown method",
          async (url) => {
            const res = await fetch(`${url}/shop.v1.ProductService/NoSuchMethod`, {
              method: "POST",
              headers: { "content-type": "application/grpc" },
              body: new Uint8Array(5),
            });
            return overHttp(res);
          },
        ],
        ["reflection", (url) => overRpc(() => listServices(createGrpcTransport({ baseUrl: url })))],
      ];
      const limited = await fx.extraGateway({ rateLimit: { perSecond: 0.01, burst: kinds.length } });
      for (const [kind, send] of kinds) {
        const outcome = await send(limited.url);
        assert.equal(outcome.refused, false, `${kind} passes while the bucket has tokens`);
      }
      for (const [kind, send] of kinds) {
        const outcome = await send(limited.url);
        assert.equal(outcome.refused, true, `${kind} is refused once the bucket is empty`);
        assert.ok(Number(outcome.retryAfter) >= 1, `${kind}: Retry-After ${outcome.retryAfter}`);
      }
      // Another gateway (its own buckets) still answers the same client.
      const res = await fetch(`${fx.url}/healthz`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    },
  );

  test("X-Forwarded-For is ignored unless the peer is a trusted proxy", TIMEOUT, async () => {
    const forwarded = (url: string, client: string) =>
      fetch(`${url}/healthz`, { headers: { "x-forwarded-for": client } }).then((res) => overHttp(res));
    const untrusting = await fx.extraGateway({ rateLimit: { perSecond: 0.01, burst: 2 } });
    assert.equal((await forwarded(untrusting.url, "203.0.113.1")).refused, false);
    assert.equal((await forwarded(untrusting.url, "203.0.113.2")).refused, false);
    assert.equal(
      (await forwarded(untrusting.url, "203.0.113.3")).refused,
      true,
      "a made-up X-Forwarded-For does not buy a fresh bucket",
    );

    const behindProxy = await fx.extraGateway({
      rateLimit: { perSecond: 0.01, burst: 2 },
      trustedProxies: ["127.0.0.0/8", "::1"],
    });
    for (let i = 0; i < 2; i++)
      assert.equal((await forwarded(behindProxy.url, "spoofed, 203.0.113.1")).refused, false);
    assert.equal(
      (await forwarded(behindProxy.url, "203.0.113.1")).refused,
      true,
      "one client behind the proxy",
    );
    assert.equal((await forwarded(behindProxy.url, "203.0.113.2")).refused, false, "another client");
  });
});

async function products(transport: Transport) {
  return createClient(ProductService, transport).getProduct({ id: "p-1001" });
}

async function listServices(transport: Transport) {
  async function* one() {
    yield create(reflection.ServerReflectionRequestSchema, {
      messageRequest: { case: "listServices", value: "" },
    });
  }
  for await (const _ of createClient(reflection.ServerReflection, transport).serverReflectionInfo(one())) {
    // the answer
  }
}

describe("the default rate limit", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.dispose();
  });

  test("a gateway configured with nothing limits each client to the default", TIMEOUT, async () => {
    const DEFAULT_RATE_LIMIT = defaultGatewayOptions.rateLimit;
    assert.deepEqual(DEFAULT_RATE_LIMIT, { perSecond: 1000, burst: 2000 });
    const gateway = await createGateway({ nc, services: [ProductService] });
    const ask = (remoteAddress: string) =>
      gateway.fetch(new Request("http://gateway/healthz"), { remoteAddress });
    // Issued in batches without waiting: each request is counted before its first await, in the
    // order issued. The requests before the first refusal are the burst plus what refilled meanwhile.
    const started = performance.now();
    let passed = 0;
    let refusedAfterMs: number | undefined;
    for (let batch = 0; batch < 50 && refusedAfterMs === undefined; batch++) {
      const pending = Array.from({ length: 500 }, () => ask("192.0.2.1"));
      const issuedMs = performance.now() - started;
      for (const res of pending) {
        const { status } = await res;
        if (refusedAfterMs !== undefined) continue;
        if (status === 200) passed++;
        else {
          assert.equal(status, 429);
          refusedAfterMs = issuedMs;
        }
      }
    }
    assert.ok(refusedAfterMs !== undefined, `no request was refused after ${passed}`);
    const refill = Math.ceil((refusedAfterMs / 1000) * DEFAULT_RATE_LIMIT.perSecond);
    assert.ok(
      passed >= DEFAULT_RATE_LIMIT.burst && passed <= DEFAULT_RATE_LIMIT.burst + refill + 1,
      `${passed} passed before the first refusal, ${refill} refilled`,
    );
    assert.equal((await ask("192.0.2.2")).status, 200, "another client has its own bucket");
    const off = await createGateway({ nc, services: [ProductService], rateLimit: false });
    const unlimited = await Promise.all(
      Array.from({ length: DEFAULT_RATE_LIMIT.burst + 1_000 }, async () => {
        const res = await off.fetch(new Request("http://gateway/healthz"), { remoteAddress: "192.0.2.1" });
        return res.status;
      }),
    );
    assert.deepEqual([...new Set(unlimited)], [200], "rateLimit: false, no limit");
  });
});

describe("createClientKey", () => {
  test("peer addresses, IPv6 by /64, mapped IPv4 as IPv4", () => {
    const key = createClientKey([]);
    assert.equal(key("198.51.100.7", null), "198.51.100.7");
    assert.equal(key("::ffff:198.51.100.7", null), "198.51.100.7");
    assert.equal(key("2001:db8:1:2:aaaa::1", null), "2001:db8:1:2::/64");
    assert.equal(key("2001:db8:1:2:bbbb::9", null), "2001:db8:1:2::/64", "one /64, one client");
    assert.equal(
      key("198.51.100.7", "203.0.113.9"),
      "198.51.100.7",
      "no trusted proxy: the header is ignored",
    );
    assert.equal(key(undefined, null), "unknown");
  });

  test("through trusted proxies: the rightmost address that is not a trusted proxy", () => {
    const key = createClientKey(["10.0.0.0/8", "fd00::/8"]);
    assert.equal(key("10.1.2.3", "203.0.113.9"), "203.0.113.9");
    assert.equal(key("10.1.2.3", "198.51.100.1, 203.0.113.9, 10.9.9.9"), "203.0.113.9");
    assert.equal(key("fd00::1", "2001:db8::5"), "2001:db8::/64");
    assert.equal(key("10.1.2.3", "10.0.0.1, 10.0.0.2"), "10.0.0.1", "all trusted: the leftmost");
    assert.equal(key("10.1.2.3", "junk, 10.0.0.2"), "10.0.0.2", "not an address: the last proxy known");
    assert.equal(key("10.1.2.3", null), "10.1.2.3");
    assert.equal(key("198.51.100.7", "203.0.113.9"), "198.51.100.7", "an untrusted peer's header is ignored");
    assert.equal(createClientKey(["::ffff:10.0.0.0/104"])("10.4.4.4", "203.0.113.1"), "203.0.113.1");
  });

  test("a trusted proxy entry that is not an address is refused, named", () => {
    for (const entry of ["10.0.0.0/33", "proxy.example", "10.0.0.0/8/1", "::1/129"]) {
      assert.throws(
        () => createClientKey([entry]),
        new RegExp(`trusted proxy "${entry.replace(/[./]/g, "\\$&")}"`),
      );
    }
  });
});
