/**
 * REST/JSON at the gateway with plain fetch: routes from the contracts' `google.api.http`
 * annotations (path variables, query parameters, `body: "*"`), answered in JSON by the real
 * actors; authentication, deadlines and refusals as Connect error bodies with their HTTP
 * statuses; and the OpenAPI document of the public routes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Header } from "troupe/protocol";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 30_000 };

interface ErrorBody {
  code: string;
  message: string;
}

describe("gateway: REST", () => {
  let fx: GatewayFixture;
  before(async () => {
    fx = await startGatewayFixture();
  });
  after(async () => {
    await fx?.close();
  });

  const json = async <T>(res: Response) => (await res.json()) as T;

  test("GET with a path variable and with query parameters", TIMEOUT, async () => {
    const one = await fetch(`${fx.url}/v1/products/p-1001`);
    assert.equal(one.status, 200);
    assert.equal(one.headers.get("content-type"), "application/json");
    assert.ok(one.headers.get(Header.requestId));
    assert.equal((await json<{ product: { id: string } }>(one)).product.id, "p-1001");

    const page = await json<{ products: { id: string }[]; nextPageToken: string }>(
      await fetch(`${fx.url}/v1/products?pageSize=2`),
    );
    assert.equal(page.products.length, 2);
    assert.ok(page.nextPageToken !== "");
    const snake = await json<{ products: unknown[] }>(await fetch(`${fx.url}/v1/products?page_size=3`));
    assert.equal(snake.products.length, 3, "proto field names work in the query too");

    const missing = await fetch(`${fx.url}/v1/products/nope`);
    assert.equal(missing.status, 404);
    assert.equal((await json<ErrorBody>(missing)).code, "not_found");
  });

  test("POST with a JSON body, then an authenticated GET", TIMEOUT, async () => {
    const created = await fetch(`${fx.url}/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ idempotencyKey: "rest-1", email: "rest@example.com", displayName: "R" }),
    });
    assert.equal(created.status, 200);
    const { user } = await json<{ user: { id: string; email: string } }>(created);
    assert.equal(user.email, "rest@example.com");

    const anonymous = await fetch(`${fx.url}/v1/users/${user.id}`);
    assert.equal(anonymous.status, 401);
    assert.equal((await json<ErrorBody>(anonymous)).code, "unauthenticated");

    const bad = await fetch(`${fx.url}/v1/users/${user.id}`, {
      headers: { authorization: "Bearer not.a.jwt" },
    });
    assert.equal(bad.status, 401);
    assert.match((await json<ErrorBody>(bad)).message, /not a valid JWT/);

    const token = await fx.token("carol");
    const seen = fx.userCallHeaders.length;
    const got = await fetch(`${fx.url}/v1/users/${user.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(got.status, 200);
    assert.equal((await json<{ user: { id: string } }>(got)).user.id, user.id);
    assert.equal(fx.userCallHeaders[seen]?.get(Header.authSubject), "carol");
  });

  test(
    "a user_id is the caller's: empty means the token's subject, another user's is refused",
    TIMEOUT,
    async () => {
      const created = await fetch(`${fx.url}/v1/users`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ idempotencyKey: "rest-views", email: "views@example.com", displayName: "V" }),
      });
      const { user } = await json<{ user: { id: string } }>(created);
      const auth = { authorization: `Bearer ${await fx.token(user.id)}`, "content-type": "application/json" };
      // Connect at the gateway: the request names no user; the token's subject is the user.
      const viewed = await fetch(`${fx.url}/shop.v1.UserService/RecordProductView`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ viewId: "v-1", productId: "p-1001" }),
      });
      assert.equal(viewed.status, 200, await viewed.clone().text());
      const recent = await fetch(`${fx.url}/v1/users/${user.id}/recently-viewed`, { headers: auth });
      assert.equal(recent.status, 200);
      const { products } = await json<{ products: { product: { id: string } }[] }>(recent);
      assert.deepEqual(
        products.map((p) => p.product.id),
        ["p-1001"],
        "recorded for the caller",
      );
      const others = await fetch(`${fx.url}/v1/users/u-someone-else/recently-viewed`, { headers: auth });
      assert.equal(others.status, 403);
      assert.equal((await json<ErrorBody>(others)).code, "permission_denied");
    },
  );

  test("refusals: malformed JSON, wrong method, bad field, deadline", TIMEOUT, async () => {
    const malformed = await fetch(`${fx.url}/v1/users`, { method: "POST", body: '{"email":' });
    assert.equal(malformed.status, 400);
    const body = await json<ErrorBody>(malformed);
    assert.equal(body.code, "invalid_argument");
    assert.match(body.message, /not valid JSON/);

    // Broken contract rules (user.proto) come back as 400 with the violation and its detail.
    const invalid = await fetch(`${fx.url}/v1/users`, {
      method: "POST",
      body: JSON.stringify({ idempotencyKey: "rest-bad", email: "nope", displayName: "R" }),
    });
    assert.equal(invalid.status, 400);
    const violated = await json<ErrorBody & { details?: { type: string }[] }>(invalid);
    assert.equal(violated.code, "invalid_argument");
    assert.equal(violated.message, "email: is not a valid email address [user.email]");
    assert.deepEqual(
      violated.details?.map((d) => d.type),
      ["buf.validate.Violations"],
    );

    const unknownField = await fetch(`${fx.url}/v1/users`, { method: "POST", body: '{"nope":1}' });
    assert.equal(unknownField.status, 400);
    await unknownField.body?.cancel();

    const wrongMethod = await fetch(`${fx.url}/v1/products/p-1001`, { method: "DELETE" });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "GET");
    await wrongMethod.body?.cancel();

    const slow = await fetch(`${fx.url}/v1/stock/slow`, { headers: { [Header.timeoutMs]: "200" } });
    assert.equal(slow.status, 504);
    assert.equal((await json<ErrorBody>(slow)).code, "deadline_exceeded");
    // The deadline header is read as Connect servers read it.
    const badTimeout = await fetch(`${fx.url}/v1/stock/p-1`, { headers: { [Header.timeoutMs]: "soon" } });
    assert.equal(badTimeout.status, 400);
    assert.match((await json<ErrorBody>(badTimeout)).message, /invalid connect timeout value: soon/);

    const boom = await fetch(`${fx.url}/v1/stock/boom`);
    assert.equal(boom.status, 500);
    assert.deepEqual(await json<ErrorBody>(boom), { code: "internal", message: "internal error" });

    const stock = await fetch(`${fx.url}/v1/stock/p-1`);
    assert.equal(stock.status, 200, "the gateway keeps serving");
    assert.equal((await json<{ stock: { available: string } }>(stock)).stock.available, "5");
  });

  test("the OpenAPI document lists the public routes", TIMEOUT, async () => {
    const res = await fetch(`${fx.url}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = await json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(res);
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths["/v1/products/{id}"]?.get);
    assert.ok(doc.paths["/v1/users"]?.post);
    assert.ok(doc.paths["/v1/stock/{product_id}"]?.get ?? doc.paths["/v1/stock/{productId}"]?.get);
  });

  test(
    "/metrics on the admin port serves every instance's STATS in the Prometheus text format",
    TIMEOUT,
    async () => {
      const line = (text: string) =>
        text
          .split("\n")
          .find(
            (l) =>
              l.startsWith("troupe_rpc_requests_total{") &&
              l.includes('endpoint="ProductService-GetProduct"') &&
              l.includes('code="ok"'),
          );
      const countOf = (text: string) => Number(line(text)?.split(" ").at(-1) ?? 0);
      assert.equal((await fetch(`${fx.url}/metrics`)).status, 404, "not on the public port");
      // A page rendered anew on every scrape, so that the second one sees the three calls.
      const metricsUrl = (await fx.extraGateway({ metricsCacheMs: 0 })).metricsUrl ?? "";
      const before = await fetch(metricsUrl);
      assert.equal(before.status, 200);
      assert.match(before.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      const start = countOf(await before.text());
      for (let i = 0; i < 3; i++) assert.equal((await fetch(`${fx.url}/v1/products/p-1001`)).status, 200);
      const after = await (await fetch(metricsUrl)).text();
      assert.equal(countOf(after), start + 3, "three more GetProduct calls counted");
      assert.match(after, /^# TYPE troupe_rpc_duration_seconds histogram$/m);
      assert.match(
        after,
        /troupe_rpc_duration_seconds_bucket\{[^}]*endpoint="ProductService-GetProduct"[^}]*le="\+Inf"\} \d+/,
      );
    },
  );
});
