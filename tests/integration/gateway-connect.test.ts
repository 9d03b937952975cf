/**
 * The gateway speaks Connect and gRPC-Web to clients Troupe did not write: connect-web's
 * `createConnectTransport` and `createGrpcWebTransport` (fetch, HTTP/1.1), calling the real
 * product and user actors through it. Also: JWT authentication and the identity the actor sees,
 * private methods, deadlines, errors that must not leak, and request ids.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Client, Code, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { Header } from "troupe/protocol";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { ProductChangeKind, ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 30_000 };

describe("gateway: Connect and gRPC-Web", () => {
  let fx: GatewayFixture;
  before(async () => {
    fx = await startGatewayFixture();
  });
  after(async () => {
    await fx?.close();
  });

  const transports: [string, () => Transport][] = [
    ["Connect", () => createConnectTransport({ baseUrl: fx.url })],
    ["Connect JSON", () => createConnectTransport({ baseUrl: fx.url, useBinaryFormat: false })],
    ["gRPC-Web", () => createGrpcWebTransport({ baseUrl: fx.url })],
  ];

  for (const [name, transport] of transports) {
    test(`${name}: unary and server-streaming calls reach the actors`, TIMEOUT, async () => {
      const products: Client<typeof ProductService> = createClient(ProductService, transport());
      const { product } = await products.getProduct({ id: "p-1001" });
      assert.equal(product?.id, "p-1001");
      assert.ok(product.name !== "");

      const snapshots = [];
      // Leaving the loop cancels the stream: the gateway cancels its NATS stream in turn.
      for await (const change of products.watchProducts({ ids: ["p-1001", "p-1002"] })) {
        snapshots.push(change);
        if (snapshots.length === 2) break;
      }
      assert.deepEqual(
        snapshots.map((s) => [s.kind, s.product?.id]),
        [
          [ProductChangeKind.SNAPSHOT, "p-1001"],
          [ProductChangeKind.SNAPSHOT, "p-1002"],
        ],
      );

      const err = await connectErrorOf(products.getProduct({ id: "nope" }));
      assert.equal(err.code, Code.NotFound, "an actor's error passes through with its code");
      assert.match(err.rawMessage, /nope/);
    });

    test(
      `${name}: auth_required methods need a valid token; the actor sees who called`,
      TIMEOUT,
      async () => {
        const users = createClient(UserService, transport());
        const { user } = await users.registerUser({
          idempotencyKey: `k-${name}`,
          email: `${name.replace(/\W/g, "")}@example.com`,
          displayName: "A",
        });
        assert.ok(user);

        const none = await connectErrorOf(users.getUser({ id: user.id }));
        assert.equal(none.code, Code.Unauthenticated);
        assert.match(none.rawMessage, /requires authentication/);

        const stranger = await fx.token("alice", { key: fx.strangerKey });
        const forged = await connectErrorOf(
          users.getUser({ id: user.id }, { headers: { authorization: `Bearer ${stranger}` } }),
        );
        assert.equal(forged.code, Code.Unauthenticated);
        assert.match(forged.rawMessage, /signature/);

        const expired = await fx.token("alice", { expiresIn: Math.floor(Date.now() / 1000) - 3600 });
        const late = await connectErrorOf(
          users.getUser({ id: user.id }, { headers: { authorization: `Bearer ${expired}` } }),
        );
        assert.equal(late.code, Code.Unauthenticated);
        assert.match(late.rawMessage, /expired/);

        const token = await fx.token("alice", { claims: { role: "shopper" } });
        const seen = fx.userCallHeaders.length;
        const { user: got } = await users.getUser(
          { id: user.id },
          // A caller cannot pose as someone else: the gateway replaces identity headers.
          {
            headers: {
              authorization: `Bearer ${token}`,
              [Header.authSubject]: "mallory",
              [Header.authClaims]: "{}",
              // Outside callers may pin a version (a canary check); the gateway forwards the pin.
              [Header.version]: "1.0.0",
            },
          },
        );
        assert.equal(got?.id, user.id);
        const forwarded = fx.userCallHeaders[seen];
        assert.ok(forwarded);
        assert.equal(forwarded.get(Header.authSubject), "alice");
        const claims = JSON.parse(forwarded.get(Header.authClaims) ?? "{}") as Record<string, unknown>;
        assert.equal(claims.role, "shopper");
        assert.equal(claims.sub, "alice");
        assert.equal(forwarded.get("authorization"), null, "the token itself stays at the gateway");
        assert.ok(forwarded.get(Header.requestId), "the request id reaches the actor");
        assert.equal(forwarded.get(Header.version), "1.0.0", "the version pin reaches the router");
        const pinnedAway = await connectErrorOf(
          users.getUser(
            { id: user.id },
            { headers: { authorization: `Bearer ${token}`, [Header.version]: "9.9.9" } },
          ),
        );
        assert.equal(pinnedAway.code, Code.Unavailable, "no instance of a pinned version: unavailable");
      },
    );

    test(`${name}: private methods are refused`, TIMEOUT, async () => {
      const inventory = createClient(InventoryService, transport());
      const err = await connectErrorOf(inventory.reserveStock({ orderId: "o-1" }));
      assert.equal(err.code, Code.PermissionDenied);
      assert.match(err.rawMessage, /shop\.v1\.InventoryService\/ReserveStock is not public/);
      // A public method of the same service works.
      const { stock } = await inventory.getStock({ productId: "p-1" });
      assert.equal(stock?.available, 5n);
    });

    test(`${name}: the caller's deadline becomes deadline_exceeded`, TIMEOUT, async () => {
      const inventory = createClient(InventoryService, transport());
      const started = performance.now();
      const err = await connectErrorOf(inventory.getStock({ productId: "slow" }, { timeoutMs: 300 }));
      assert.equal(err.code, Code.DeadlineExceeded);
      assert.ok(performance.now() - started < 5_000);
    });

    test(`${name}: an actor's internal failure does not leak`, TIMEOUT, async () => {
      const inventory = createClient(InventoryService, transport());
      const err = await connectErrorOf(inventory.getStock({ productId: "boom" }));
      assert.equal(err.code, Code.Internal);
      assert.doesNotMatch(err.rawMessage, /10\.1\.2\.3|password|database/);
    });
  }

  test("Connect over plain fetch: status codes, JSON errors and request ids", TIMEOUT, async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${fx.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
      });

    const ok = await post("/shop.v1.ProductService/GetProduct", '{"id":"p-1001"}', {
      [Header.requestId]: "req-42",
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get(Header.requestId), "req-42", "a well-formed caller id is kept");
    assert.equal(((await ok.json()) as { product: { id: string } }).product.id, "p-1001");

    const minted = await post("/shop.v1.ProductService/GetProduct", '{"id":"p-1001"}', {
      [Header.requestId]: "bad id!",
    });
    assert.match(minted.headers.get(Header.requestId) ?? "", /^[\w-]{16,}$/, "a malformed id is replaced");
    await minted.body?.cancel();

    const unauthenticated = await post("/shop.v1.UserService/GetUser", '{"id":"u"}');
    assert.equal(unauthenticated.status, 401);
    assert.equal(((await unauthenticated.json()) as { code: string }).code, "unauthenticated");
    assert.ok(unauthenticated.headers.get(Header.requestId), "errors carry the request id too");

    const slow = await post("/shop.v1.InventoryService/GetStock", '{"productId":"slow"}', {
      "connect-timeout-ms": "200",
    });
    assert.equal(slow.status, 504);
    assert.equal(((await slow.json()) as { code: string }).code, "deadline_exceeded");

    const privateMethod = await post("/shop.v1.InventoryService/ReserveStock", "{}");
    assert.equal(privateMethod.status, 403);
    await privateMethod.body?.cancel();
  });
});
