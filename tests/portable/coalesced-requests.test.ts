/**
 * `coalesceRequests` (transports/nats-transport.ts): unary requests wait for the scheduler's
 * callback and are then published together (what the gateway does with the platform's
 * after-I/O scheduler); a call aborted while it waits is never sent, and an oversize request
 * still fails with `resource_exhausted` naming the server's limit.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { connect, createNatsTransport, implement, silentLogger } from "troupe";
import { serveServices } from "troupe/host";
import { startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { afterIo } from "../../runtime/platform/after-io.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";

const TIMEOUT = { timeout: 30_000 };

test("requests wait for the scheduler, then go out together", TIMEOUT, async () => {
  await using server = await startNatsServer({ jetstream: false, maxPayloadBytes: 4 * 1024 });
  const serverNc = await connect({ servers: server.url });
  const clientNc = await connect({ servers: server.url });
  const served: string[] = [];
  const host = await serveServices(
    serverNc,
    [
      implement(ProductService, {
        getProduct(req) {
          served.push(req.id);
          return { product: { id: req.id } };
        },
      }),
    ],
    { name: "product", logger: silentLogger },
  );
  try {
    // A scheduler the test runs by hand.
    const flushes: (() => void)[] = [];
    const products = createClient(
      ProductService,
      createNatsTransport({ nc: clientNc, coalesceRequests: (flush) => flushes.push(flush) }),
    );
    const aborter = new AbortController();
    const calls = ["a", "b", "c"].map((id) => products.getProduct({ id }));
    const abandoned = connectErrorOf(products.getProduct({ id: "abandoned" }, { signal: aborter.signal }));
    assert.equal(flushes.length, 1, "one scheduled flush for all the calls of this turn");
    aborter.abort();
    await clientNc.flush();
    await serverNc.flush();
    assert.deepEqual(served, [], "nothing is published before the flush");

    flushes[0]?.();
    const answers = await Promise.all(calls);
    assert.deepEqual(
      answers.map((a) => a.product?.id),
      ["a", "b", "c"],
    );
    assert.equal((await abandoned).code, Code.Canceled);
    assert.deepEqual(served.sort(), ["a", "b", "c"], "the aborted call was never sent");

    // With the platform's scheduler, and a request over max_payload.
    const gateway = createClient(
      ProductService,
      createNatsTransport({ nc: clientNc, coalesceRequests: afterIo }),
    );
    assert.equal((await gateway.getProduct({ id: "d" })).product?.id, "d");
    const big = await connectErrorOf(gateway.getProduct({ id: "x".repeat(8 * 1024) }));
    assert.equal(big.code, Code.ResourceExhausted);
    assert.match(big.rawMessage, /exceeds the NATS server's max_payload of 4096 bytes/);
  } finally {
    await host.drain(500);
    await serverNc.close();
    await clientNc.close();
  }
});
