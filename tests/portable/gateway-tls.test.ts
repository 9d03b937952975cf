/**
 * The gateway over HTTPS on every runtime (docs/adr/0028-tls-on-every-hop.md): one port with
 * ALPN offering h2 and http/1.1, a server certificate from troupe/security's local CA. REST over
 * HTTP/1.1 and h2 (the negotiated protocol checked), Connect, gRPC-Web and gRPC through
 * connect-node, and @grpc/grpc-js, a gRPC client Troupe did not write; a cleartext client does not
 * get through, and a stop does not wait for idle keep-alive connections. And the gateway process
 * (runGateway) wired from the environment: NATS over mutual TLS, HTTPS on its port.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as connectHttp2 } from "node:http2";
import { Agent, request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { TLSSocket } from "node:tls";
import { createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { exportSPKI, generateKeyPair } from "jose";
import type { RunningGateway } from "troupe/gateway";
import { ensureLocalCertificates, type LocalCertificates } from "troupe/security";
import { startNatsServer } from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { runtimeInfo } from "../../runtime/platform/runtime-info.ts";
import { type ChildProcess, spawnProcess } from "../../runtime/platform/spawn-process.ts";
import { commandFor, type JsRuntime, REPO_ROOT } from "../support/actor-process.ts";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";
import { logLine } from "../support/log-line.ts";

const TIMEOUT = { timeout: 30_000 };

let dir: string;
let certs: LocalCertificates;
let ca: Buffer;
let fx: GatewayFixture;
let gateway: RunningGateway;
/** `https://localhost:<port>`: the name the server certificate carries. */
let baseUrl: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "troupe-gateway-tls-"));
  certs = await ensureLocalCertificates(dir);
  ca = readFileSync(certs.caFile);
  fx = await startGatewayFixture();
  gateway = await fx.extraGateway(
    {},
    { tls: { certFile: certs.server.certFile, keyFile: certs.server.keyFile } },
  );
  baseUrl = `https://localhost:${gateway.server.port}`;
});

after(async () => {
  await fx?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One GET over HTTP/1.1 (ALPN offering only http/1.1); the negotiated protocol comes back too. */
function http1Get(path: string): Promise<{ status: number; body: string; alpn: string | false | null }> {
  const agent = new Agent({ ALPNProtocols: ["http/1.1"] });
  return new Promise<{ status: number; body: string; alpn: string | false | null }>((resolve, reject) => {
    const req = httpsRequest({ host: "localhost", port: gateway.server.port, path, ca, agent }, (res) => {
      const alpn = (res.socket as TLSSocket).alpnProtocol;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.once("end", () => resolve({ status: res.statusCode ?? 0, body, alpn }));
    });
    req.once("error", reject);
    req.end();
  }).finally(() => agent.destroy());
}

/** One GET over h2; the session's negotiated protocol comes back too. */
function h2Get(path: string): Promise<{ status: number; body: string; alpn: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(baseUrl, { ca });
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
      const alpn = session.alpnProtocol;
      session.close();
      resolve({ status, body, alpn });
    });
    req.once("error", reject);
    req.end();
  });
}

describe("the gateway over HTTPS", () => {
  test("listens on an https:// URL", TIMEOUT, () => {
    assert.match(gateway.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test("REST over HTTP/1.1, negotiated by ALPN", TIMEOUT, async () => {
    const res = await http1Get("/v1/products/p-1001");
    assert.equal(res.alpn, "http/1.1");
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { product: { id: string } }).product.id, "p-1001");
  });

  test("REST over h2 on the same port, negotiated by ALPN", TIMEOUT, async () => {
    const res = await h2Get("/v1/products/p-1002");
    assert.equal(res.alpn, "h2");
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { product: { id: string } }).product.id, "p-1002");
  });

  test("Connect over HTTP/1.1 and h2, gRPC-Web, and gRPC through connect-node", TIMEOUT, async () => {
    for (const transport of [
      createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca } }),
      createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions: { ca } }),
      createGrpcWebTransport({ baseUrl, httpVersion: "2", nodeOptions: { ca } }),
      createGrpcTransport({ baseUrl, nodeOptions: { ca } }),
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

  test("@grpc/grpc-js calls a method over TLS, verifying the server against the CA", TIMEOUT, async () => {
    const definition = protoLoader.loadSync(["shop/v1/product.proto"], {
      includeDirs: ["proto", "runtime/proto"],
      longs: String,
      enums: String,
      defaults: true,
    });
    const shop = (
      grpc.loadPackageDefinition(definition) as unknown as {
        shop: { v1: { ProductService: grpc.ServiceClientConstructor } };
      }
    ).shop.v1;
    const products = new shop.ProductService(
      `localhost:${gateway.server.port}`,
      grpc.credentials.createSsl(ca),
    ) as unknown as grpc.Client & {
      getProduct(
        req: object,
        cb: (err: grpc.ServiceError | null, res?: { product: { id: string } }) => void,
      ): void;
    };
    try {
      const answer = await new Promise<{ product: { id: string } } | undefined>((resolve, reject) =>
        products.getProduct({ id: "p-1004" }, (err, res) => (err ? reject(err) : resolve(res))),
      );
      assert.equal(answer?.product.id, "p-1004");

      // The same call with the system's CAs only: the local CA is not among them.
      const untrusting = new shop.ProductService(
        `localhost:${gateway.server.port}`,
        grpc.credentials.createSsl(),
      ) as unknown as typeof products;
      const refused = await new Promise<grpc.ServiceError | null>((resolve) =>
        untrusting.getProduct({ id: "p-1004" }, (err) => resolve(err)),
      );
      untrusting.close();
      assert.equal(refused?.code, grpc.status.UNAVAILABLE);
    } finally {
      products.close();
    }
  });

  test("a cleartext request does not get through, and the port keeps serving", TIMEOUT, async () => {
    const cleartext = `http://127.0.0.1:${gateway.server.port}/v1/products/p-1001`;
    const outcome = await fetch(cleartext).then(
      async (res) => `status ${res.status}: ${await res.text()}`,
      (err: unknown) => `refused: ${String(err)}`,
    );
    assert.doesNotMatch(outcome, /p-1001/, "no product over cleartext");
    assert.equal((await http1Get("/v1/products/p-1001")).status, 200);
  });

  test(
    "stop ends idle keep-alive HTTP/1.1 connections at once instead of waiting out the grace",
    TIMEOUT,
    async () => {
      const extra = await fx.extraGateway(
        {},
        { tls: { certFile: certs.server.certFile, keyFile: certs.server.keyFile } },
      );
      const agent = new Agent({ keepAlive: true });
      try {
        const res = await new Promise<number>((resolve, reject) => {
          const req = httpsRequest(
            { host: "localhost", port: extra.server.port, path: "/v1/products/p-1001", ca, agent },
            (r) => {
              r.resume();
              r.once("end", () => resolve(r.statusCode ?? 0));
            },
          );
          req.once("error", reject);
          req.end();
        });
        assert.equal(res, 200);
        const started = Date.now();
        await extra.stop(10_000);
        assert.ok(Date.now() - started < 5_000, `stop took ${Date.now() - started} ms`);
      } finally {
        agent.destroy();
      }
    },
  );
});

describe("the gateway process over TLS", () => {
  /** The shop's gateway process on the test's runtime (the shop's public services), with `env`. */
  function startGatewayProcess(env: Record<string, string>): ChildProcess {
    const { command, args } = commandFor(runtimeInfo().name as JsRuntime, "actors/gateway/main.ts");
    return spawnProcess(command, args, {
      cwd: REPO_ROOT,
      env: {
        GATEWAY_PORT: "0",
        GATEWAY_HOST: "127.0.0.1",
        GATEWAY_ADMIN_PORT: "off",
        TROUPE_ROUTES: "off",
        TROUPE_CONTRACTS: "proto/gen/shop",
        ...env,
      },
    });
  }

  test("reads NATS_CA, NATS_CERT, NATS_KEY and GATEWAY_TLS_CERT, GATEWAY_TLS_KEY", {
    timeout: 60_000,
  }, async () => {
    const pki = await ensureLocalCertificates(join(dir, "process"), { clients: ["gateway"] });
    const client = pki.clients.gateway;
    assert.ok(client);
    await using nats = await startNatsServer({ jetstream: false, tls: { ...pki.server, verify: true } });
    // The shop has auth_required methods: the gateway refuses to start without a key to check them.
    const { publicKey } = await generateKeyPair("ES256");
    const gatewayProcess = startGatewayProcess({
      GATEWAY_JWT_PUBLIC_KEY: await exportSPKI(publicKey),
      GATEWAY_JWT_ALGORITHMS: "ES256",
      NATS_URL: nats.url,
      NATS_CA: pki.caFile,
      NATS_CERT: client.certFile,
      NATS_KEY: client.keyFile,
      GATEWAY_TLS_CERT: pki.server.certFile,
      GATEWAY_TLS_KEY: pki.server.keyFile,
    });
    try {
      const ready = await logLine(gatewayProcess, "gateway ready");
      assert.match(String(ready.url), /^https:\/\/127\.0\.0\.1:\d+$/);
      const port = Number(new URL(String(ready.url)).port);
      const health = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(
          { host: "localhost", port, path: "/healthz", ca: readFileSync(pki.caFile) },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.once("error", reject);
        req.end();
      });
      assert.equal(health, 200);
    } finally {
      gatewayProcess.kill("SIGTERM");
      await gatewayProcess.exited;
    }

    const halfTls = startGatewayProcess({ NATS_URL: nats.url, GATEWAY_TLS_CERT: pki.server.certFile });
    await halfTls.exited;
    assert.match(halfTls.output(), /GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together/);
  });
});
