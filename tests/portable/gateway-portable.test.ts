/**
 * The gateway runs in-process on Bun, Deno and Node: one port answers HTTP/1.1 (fetch) and h2c
 * (node:http2 and connect-node's HTTP/2 transport), and the Hono app answers alone, as a fetch
 * handler without any server.
 */
import assert from "node:assert/strict";
import { connect as connectHttp2 } from "node:http2";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Header } from "troupe/protocol";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 30_000 };

/** One request over h2c with prior knowledge; resolves with status, HTTP version and body. */
function h2cGet(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(url);
    session.once("error", reject);
    const req = session.request({ ":path": path, ":method": "GET" });
    let status = 0;
    let body = "";
    req.setEncoding("utf8");
    req.once("response", (headers) => {
      status = Number(headers[":status"]);
    });
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.once("end", () => {
      session.close();
      resolve({ status, body });
    });
    req.once("error", reject);
    req.end();
  });
}

describe("gateway on this runtime", () => {
  let fx: GatewayFixture;
  before(async () => {
    fx = await startGatewayFixture();
  });
  after(async () => {
    await fx?.close();
  });

  test("REST over HTTP/1.1", TIMEOUT, async () => {
    const res = await fetch(`${fx.url}/v1/products/p-1001`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { product: { id: string } }).product.id, "p-1001");
  });

  test("REST over h2c on the same port", TIMEOUT, async () => {
    const res = await h2cGet(fx.url, "/v1/products/p-1002");
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { product: { id: string } }).product.id, "p-1002");
    const missing = await h2cGet(fx.url, "/v1/nothing-here");
    assert.equal(missing.status, 404);
  });

  test("Connect over HTTP/1.1 and h2c, and gRPC over h2c", TIMEOUT, async () => {
    for (const transport of [
      createConnectTransport({ baseUrl: fx.url, httpVersion: "1.1" }),
      createConnectTransport({ baseUrl: fx.url, httpVersion: "2" }),
      createGrpcTransport({ baseUrl: fx.url }),
    ]) {
      const products = createClient(ProductService, transport);
      const { product } = await products.getProduct({ id: "p-1003" });
      assert.equal(product?.id, "p-1003");
      const seen: string[] = [];
      for await (const change of products.watchProducts({ ids: ["p-1001", "p-1002"] })) {
        seen.push(change.product?.id ?? "");
        if (seen.length === 2) break;
      }
      assert.deepEqual(seen, ["p-1001", "p-1002"]);
    }
  });

  test("the Hono app alone, as a fetch handler", TIMEOUT, async () => {
    const { gateway } = fx.gateway;
    const res = await gateway.fetch(new Request("http://gateway.test/v1/products/p-1001"));
    assert.equal(res.status, 200);
    assert.ok(res.headers.get(Header.requestId));
    const connect = await gateway.fetch(
      new Request("http://gateway.test/shop.v1.ProductService/GetProduct", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"id":"p-1004"}',
      }),
    );
    assert.equal(connect.status, 200);
    assert.equal(((await connect.json()) as { product: { id: string } }).product.id, "p-1004");
    // Native gRPC needs trailers, which a fetch Response cannot carry: the app alone refuses it.
    const grpc = await gateway.fetch(
      new Request("http://gateway.test/shop.v1.ProductService/GetProduct", {
        method: "POST",
        headers: { "content-type": "application/grpc" },
        body: new Uint8Array([0, 0, 0, 0, 0]),
      }),
    );
    assert.equal(grpc.status, 415);
    await grpc.body?.cancel();
  });
});
