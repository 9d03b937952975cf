/**
 * The gateway cannot reach a private method, even with a misconfigured route
 * (docs/adr/0029-a-hardened-edge.md): a `google.api.http` annotation on a method the contract does
 * not mark public (LibraryService.DeleteBook) is named in a warning when the gateway starts and
 * answered with permission_denied on every protocol, and nothing is ever published on the
 * method's subjects, while a public method of the same service is (the control that shows the
 * subscription would see a call). And with a gate that admits everything, the forwarding
 * implementations and the REST handler still refuse a private method without touching the
 * transport: there is no code path from outside to it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { connect, type Logger, silentLogger } from "troupe";
import type { RunningGateway } from "troupe/gateway";
import { rpcMethodSubject } from "troupe/protocol";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { LibraryService } from "../../proto/gen/troupe/testing/v1/library_pb.ts";
import { forwardingRoutes } from "../../runtime/gateway/forwarding-routes.ts";
import type { Gate } from "../../runtime/gateway/gate.ts";
import { createRestHandler } from "../../runtime/gateway/rest-handler.ts";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 30_000 };
const DELETE_BOOK = LibraryService.method.deleteBook;
const RESERVE_STOCK = InventoryService.method.reserveStock;

/** A gate that admits every call: the misconfiguration the structure must survive. */
const admitEverything: Gate = async (_method, _header, requestId) =>
  new Headers({ "x-request-id": requestId });

/** A transport that records every call it is asked to make, and answers none. */
function recordingTransport(calls: string[]): Transport {
  const refuse = (what: string) => {
    calls.push(what);
    throw new ConnectError("the transport was reached", Code.Internal);
  };
  return {
    unary: async (method) => refuse(`${method.parent.typeName}/${method.name}`),
    stream: async (method) => refuse(`${method.parent.typeName}/${method.name}`),
  } as Transport;
}

describe("a private method behind a misconfigured route", () => {
  let fx: GatewayFixture;
  let gateway: RunningGateway;
  let watcher: NatsConnection;
  const warnings: Record<string, unknown>[] = [];
  const published = new Map<string, number>();
  const subscriptions: Subscription[] = [];

  before(async () => {
    fx = await startGatewayFixture();
    watcher = await connect({ servers: fx.server.url });
    for (const method of [DELETE_BOOK, RESERVE_STOCK, InventoryService.method.getStock]) {
      const subject = rpcMethodSubject(method);
      for (const pattern of [subject, `${subject}.>`]) {
        subscriptions.push(
          watcher.subscribe(pattern, {
            callback: () => {
              published.set(method.name, (published.get(method.name) ?? 0) + 1);
            },
          }),
        );
      }
    }
    await watcher.flush();
    const logger: Logger = {
      log(level, _message, fields) {
        if (level === "warn" && fields !== undefined) warnings.push(fields);
      },
    };
    gateway = await fx.extraGateway({ services: [LibraryService, InventoryService], logger });
  });
  after(async () => {
    for (const sub of subscriptions) sub.unsubscribe();
    await watcher?.close();
    await fx?.close();
  });

  test("the start names the route that leads to a private method", TIMEOUT, () => {
    assert.deepEqual(
      warnings.filter((w) => w.method === "troupe.testing.v1.LibraryService/DeleteBook"),
      [
        {
          method: "troupe.testing.v1.LibraryService/DeleteBook",
          route: "DELETE /v1/{name=shelves/*/books/*}",
        },
      ],
    );
  });

  test("REST, Connect, gRPC-Web and gRPC refuse it, and nothing reaches its subject", TIMEOUT, async () => {
    const rest = await fetch(`${gateway.url}/v1/shelves/s1/books/b1`, { method: "DELETE" });
    assert.equal(rest.status, 403);
    const body = (await rest.json()) as { code: string; message: string };
    assert.equal(body.code, "permission_denied");
    assert.match(body.message, /troupe\.testing\.v1\.LibraryService\/DeleteBook is not public/);

    for (const transport of [
      createGrpcTransport({ baseUrl: gateway.url }),
      createGrpcWebTransport({ baseUrl: gateway.url, httpVersion: "1.1" }),
    ]) {
      const library = createClient(LibraryService, transport);
      const err = await library.deleteBook({ name: "shelves/s1/books/b1" }).then(
        () => assert.fail("DeleteBook was forwarded"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.PermissionDenied);
      assert.match(err.rawMessage, /DeleteBook is not public/);
      const inventory = createClient(InventoryService, transport);
      const reserve = await inventory.reserveStock({ orderId: "o-1" }).then(
        () => assert.fail("ReserveStock was forwarded"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(reserve.code, Code.PermissionDenied);
      // The control: a public method of the same service is forwarded, and seen on its subject.
      assert.equal((await inventory.getStock({ productId: "p-1" })).stock?.available, 5n);
    }
    const connect = await fetch(`${gateway.url}/troupe.testing.v1.LibraryService/DeleteBook`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"name":"shelves/s1/books/b1"}',
    });
    assert.equal(connect.status, 403);
    await connect.body?.cancel();

    await watcher.flush();
    await gateway.gateway.options.nc.flush();
    assert.equal(published.get("GetStock"), 2, "the public calls were seen on their subject");
    assert.equal(published.get("DeleteBook"), undefined, "DeleteBook was never published");
    assert.equal(published.get("ReserveStock"), undefined, "ReserveStock was never published");
  });
});

describe("with a gate that admits everything", () => {
  test("the forwarding implementation of a private method refuses without the transport", async () => {
    const calls: string[] = [];
    const forwarding = forwardingRoutes([LibraryService, InventoryService], {
      transport: recordingTransport(calls),
      gate: admitEverything,
      timeoutMs: 1_000,
      streamTimeoutMs: 1_000,
      requestIdOf: () => "req-1",
    });
    // No request gate on this router: the implementations alone decide.
    const library = createClient(LibraryService, createRouterTransport(forwarding.routes));
    const inventory = createClient(InventoryService, createRouterTransport(forwarding.routes));
    for (const call of [
      () => library.deleteBook({ name: "shelves/s/books/b" }),
      () => inventory.reserveStock({ orderId: "o-1" }),
      () => inventory.importStock((async function* () {})()),
    ]) {
      const err = await call().then(
        () => assert.fail("forwarded"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.PermissionDenied, err.message);
    }
    assert.deepEqual(calls, [], "the transport was never asked");
    // The control: a public method does reach the transport.
    await library.getBook({ name: "shelves/s/books/b" }).catch(() => {});
    assert.deepEqual(calls, ["troupe.testing.v1.LibraryService/GetBook"]);
  });

  test("the REST handler refuses a private method's route without the transport", async () => {
    const calls: string[] = [];
    const rest = createRestHandler({
      services: [LibraryService],
      transport: recordingTransport(calls),
      gate: admitEverything,
      timeoutMs: 1_000,
      maxTimeoutMs: 10_000,
      logger: silentLogger,
    });
    const res = await rest(new Request("http://gateway/v1/shelves/s/books/b", { method: "DELETE" }), "req-1");
    assert.ok(res !== undefined, "the route is matched");
    assert.equal(res.status, 403);
    assert.match(((await res.json()) as { message: string }).message, /DeleteBook is not public/);
    assert.deepEqual(calls, []);
    await rest(new Request("http://gateway/v1/shelves/s/books/b"), "req-2");
    assert.deepEqual(
      calls,
      ["troupe.testing.v1.LibraryService/GetBook"],
      "the control reaches the transport",
    );
  });
});
