/**
 * The gateway from a real browser: headless Chromium (Debian's, found or installed by
 * scripts/ensure-chromium.sh) loads a page from another origin whose script calls the gateway
 * with connect-web's Connect and gRPC-Web transports (unary and a server stream) and with a REST
 * fetch. With that origin allowed by CORS every call works; from an origin the gateway does not
 * allow, the browser itself refuses to hand the responses to the page.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Browser } from "playwright-core";
import { connect, type RunningActor, serveActor, silentLogger } from "troupe";
import { type RunningGateway, serveGateway } from "troupe/gateway";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { productActor } from "../../actors/product/actor.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { REPO_ROOT } from "../support/actor-process.ts";
import { launchChromium } from "../support/chromium.ts";

const TIMEOUT = { timeout: 60_000 };

describe("gateway from a browser", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let actor: RunningActor;
  let gateway: RunningGateway;
  let pages: Server;
  let browser: Browser;
  let pagePort = 0;

  before(async () => {
    browser = await launchChromium();
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    actor = await serveActor(nc, productActor, { logger: silentLogger });

    // The page and its bundled script, served from their own port: another origin than the gateway.
    const built = await Bun.build({
      entrypoints: [join(REPO_ROOT, "tests/support/browser/gateway-client.ts")],
      target: "browser",
      // The repository's `troupe` is its sources (runtime/package.json exports).
      conditions: ["troupe-source"],
    });
    assert.ok(built.success, built.logs.join("\n"));
    const script = await built.outputs[0]?.text();
    assert.ok(script, "the page script was bundled");
    pages = createServer((req, res) => {
      if (req.url?.startsWith("/client.js")) {
        res.writeHead(200, { "content-type": "text/javascript" }).end(script);
        return;
      }
      res
        .writeHead(200, { "content-type": "text/html" })
        .end('<!doctype html><html><body><script type="module" src="/client.js"></script></body></html>');
    });
    await new Promise<void>((resolve) => pages.listen(0, "127.0.0.1", resolve));
    pagePort = (pages.address() as AddressInfo).port;

    // Only the page's 127.0.0.1 origin is allowed; the same page on localhost is another origin.
    gateway = await serveGateway(
      {
        nc,
        services: [ProductService],
        corsOrigins: [`http://127.0.0.1:${pagePort}`],
        logger: silentLogger,
      },
      { port: 0, hostname: "127.0.0.1", discovery: false },
    );
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop(1_000);
    await actor?.drain(1_000);
    await new Promise((resolve) => pages?.close(resolve));
    await nc?.close();
    await server?.dispose();
  });

  /** Opens the page on `host`, waits for its script to finish, and returns what it recorded. */
  const resultsFrom = async (host: string): Promise<Record<string, string>> => {
    const page = await browser.newPage();
    try {
      const url = `http://${host}:${pagePort}/?gateway=${encodeURIComponent(gateway.url)}`;
      await page.goto(url);
      await page.waitForFunction(() => window.troupeResults !== undefined, undefined, { timeout: 20_000 });
      return (await page.evaluate(() => window.troupeResults)) ?? {};
    } finally {
      await page.close();
    }
  };

  test("an allowed origin calls with Connect, gRPC-Web and REST", TIMEOUT, async () => {
    assert.deepEqual(await resultsFrom("127.0.0.1"), {
      "connect.unary": "p-1001",
      "connect.stream": "p-1001,p-1002",
      "grpcWeb.unary": "p-1001",
      "grpcWeb.stream": "p-1001,p-1002",
      rest: "200 p-1001 with-request-id",
    });
  });

  test("another origin is refused by the browser (no CORS grant)", TIMEOUT, async () => {
    const results = await resultsFrom("localhost");
    for (const [call, result] of Object.entries(results)) {
      assert.match(result, /^error/, `${call} from a foreign origin must fail, got ${result}`);
    }
    assert.match(results.rest ?? "", /Failed to fetch/);
    // The gateway itself kept serving.
    assert.equal((await resultsFrom("127.0.0.1"))["connect.unary"], "p-1001");
  });
});
