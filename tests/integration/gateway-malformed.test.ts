/**
 * 10,000 malformed requests leave the gateway serving (issue 13, docs/adr/0029-a-hardened-edge.md).
 * The shop's gateway process (`actors/gateway/main.ts`, with its default limits but a short head
 * timeout) is sent, over raw sockets, a counted mix: garbage bytes, invalid HTTP/1.1 request
 * lines, oversized heads, too many header fields, truncated bodies, slow senders that never
 * finish, HTTP/2 prefaces followed by garbage frames, invalid HPACK, CONTINUATION floods, rapid
 * resets, too many streams, and oversized or compressed-bomb gRPC and Connect frames. Then: the
 * process still runs; it answers REST, Connect and gRPC; every slow sender was cut off by the
 * server within the head timeout; and its open file descriptors come back to where they were
 * and its memory stays bounded (read from /proc: the gateway is a child process).
 *
 * Bun runs this file; `TROUPE_GATEWAY_RUNTIME=node` (or deno) runs the gateway on another
 * runtime.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect as connectSocket } from "node:net";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { exportSPKI, generateKeyPair } from "jose";
import { connect, type RunningActor, serveActor, silentLogger } from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { productActor } from "../../actors/product/actor.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { type ChildProcess, spawnProcess } from "../../runtime/platform/spawn-process.ts";
import { commandFor, type JsRuntime, REPO_ROOT } from "../support/actor-process.ts";
import { logLine } from "../support/log-line.ts";
import {
  dataFrame,
  envelope,
  Flag,
  FrameType,
  frame,
  H2_PREFACE,
  headerBlock,
  headersFrame,
  requestHeaders,
  rstStream,
  settings,
} from "../support/raw-http2.ts";

const RUNTIME = (process.env.TROUPE_GATEWAY_RUNTIME ?? "bun") as JsRuntime;
const HEADERS_TIMEOUT_MS = 1_500;
/** How many raw connections are open at once (besides the slow senders). */
const CONCURRENCY = 64;
/** A client waits this long for the server to close a connection after its last byte, then leaves. */
const LINGER_MS = 2_000;

/** A PRNG with a seed, so that a failure can be replayed (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = random(Number(process.env.TROUPE_MALFORMED_SEED ?? 13));
const int = (n: number) => Math.floor(rand() * n);
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
const pick = <T>(list: readonly T[]) => list[int(list.length)] as T;
const latin1 = (text: string) => Buffer.from(text, "latin1");

/** What one connection sends: chunks, written in order; `end`: half-close after them. */
interface Attack {
  readonly chunks: Buffer[];
  /** Malformed requests this connection carries (streams, for the HTTP/2 floods). */
  readonly requests: number;
}

const INVALID_REQUEST_LINES = [
  "GET\r\n\r\n",
  "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
  "get / http/1.1\r\nHost: x\r\n\r\n",
  "GET /\x00/ HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET  / HTTP/1.1\r\n\r\n",
  " / HTTP/1.1\r\nHost: x\r\n\r\n",
  "G\x7fT / HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
  "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: x\r\n Folded: header\r\n\r\n",
  "GET / HTTP/1.1\r\nBad Header Name: v\r\n\r\n",
  "GET / HTTP/1.1\nHost: x\n\n",
  `GET /${"a".repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  "CONNECT localhost:22 HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: !!\r\n\r\n",
  "\r\n\r\n\r\n",
];

/** Paths whose body the gateway reads: REST, Connect unary, gRPC-Web. */
const BODY_TARGETS: [string, string][] = [
  ["/v1/users", "application/json"],
  ["/shop.v1.ProductService/GetProduct", "application/json"],
  ["/shop.v1.ProductService/GetProduct", "application/grpc-web+proto"],
  ["/shop.v1.ProductService/WatchProducts", "application/connect+json"],
];

const h2Start = () => [H2_PREFACE, settings()];
/** 16 MiB of zeros, gzipped to some 16 KiB: a decompression bomb in one gRPC message. */
const BOMB = gzipSync(Buffer.alloc(16 * 1024 * 1024));

/** The mix, by kind: how many malformed requests of each, and how to make one connection's worth. */
const KINDS: [string, number, () => Attack][] = [
  [
    "garbage bytes",
    1500,
    () => ({ chunks: [Buffer.concat([latin1("X"), bytes(1 + int(512))])], requests: 1 }),
  ],
  [
    "invalid HTTP/1.1 request line or framing",
    1500,
    () => ({ chunks: [latin1(pick(INVALID_REQUEST_LINES))], requests: 1 }),
  ],
  [
    "oversized head",
    700,
    () => ({
      chunks: [latin1(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(20_000 + int(20_000))}\r\n\r\n`)],
      requests: 1,
    }),
  ],
  [
    "too many header fields",
    700,
    () => ({
      chunks: [
        latin1(
          `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 101 + int(100) }, (_, i) => `X-${i}: v\r\n`).join("")}\r\n`,
        ),
      ],
      requests: 1,
    }),
  ],
  [
    "truncated body with a Content-Length",
    1000,
    () => {
      const [path, type] = pick(BODY_TARGETS);
      return {
        chunks: [
          latin1(
            `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${100 + int(100_000)}\r\n\r\n`,
          ),
          bytes(int(64)),
        ],
        requests: 1,
      };
    },
  ],
  [
    "HTTP/2 preface, then garbage frames",
    1500,
    () => {
      const garbage = [
        () => frame(int(16), int(256), int(8), bytes(int(64))),
        () => frame(FrameType.data, 0, 0, bytes(8)), // DATA on stream 0
        () => frame(FrameType.settings, 0, 0, bytes(5)), // a SETTINGS length not a multiple of 6
        () => frame(FrameType.windowUpdate, 0, 0, Buffer.alloc(4)), // an increment of 0
        () => frame(FrameType.ping, 0, 0, bytes(3)), // PING of the wrong size
        () => frame(FrameType.headers, Flag.endHeaders, 2, headerBlock(requestHeaders("GET", "/"))), // even id
        () => frame(FrameType.pushPromise, Flag.endHeaders, 1, bytes(8)), // a client may not push
        () => Buffer.concat([frame(FrameType.data, 0, 1, Buffer.alloc(0)).subarray(0, 3), bytes(6)]), // huge length
        () => bytes(9 + int(64)),
      ];
      return { chunks: [...h2Start(), pick(garbage)(), pick(garbage)()], requests: 1 };
    },
  ],
  [
    "HTTP/2 invalid HPACK",
    1000,
    () => ({
      chunks: [
        ...h2Start(),
        frame(FrameType.headers, Flag.endHeaders | Flag.endStream, 1, bytes(1 + int(128))),
      ],
      requests: 1,
    }),
  ],
  [
    "HTTP/2 CONTINUATION flood",
    300,
    () => {
      const first = frame(FrameType.headers, 0, 1, headerBlock(requestHeaders("GET", "/healthz")));
      const flood = Array.from({ length: 200 }, () =>
        frame(FrameType.continuation, 0, 1, headerBlock([[`x-${int(1e6)}`, "v".repeat(64)]])),
      );
      return { chunks: [...h2Start(), first, Buffer.concat(flood)], requests: 1 };
    },
  ],
  [
    "HTTP/2 rapid reset (streams opened and reset at once)",
    800,
    () => {
      const streams = Array.from({ length: 20 }, (_, i) =>
        Buffer.concat([
          headersFrame(2 * i + 1, requestHeaders("GET", "/v1/products/p-1001"), true),
          rstStream(2 * i + 1),
        ]),
      );
      return { chunks: [...h2Start(), Buffer.concat(streams)], requests: 20 };
    },
  ],
  [
    "HTTP/2 too many streams",
    300,
    () => {
      const streams = Array.from({ length: 150 }, (_, i) =>
        headersFrame(
          2 * i + 1,
          requestHeaders("POST", "/shop.v1.ProductService/GetProduct", [
            ["content-type", "application/grpc"],
          ]),
          false,
        ),
      );
      return { chunks: [...h2Start(), Buffer.concat(streams)], requests: 150 };
    },
  ],
  [
    "oversized or bomb gRPC and Connect frames",
    500,
    () => {
      const grpc = (body: Buffer, extra: [string, string][] = []) => [
        ...h2Start(),
        headersFrame(
          1,
          requestHeaders("POST", "/shop.v1.ProductService/GetProduct", [
            ["content-type", "application/grpc"],
            ["te", "trailers"],
            ...extra,
          ]),
          false,
        ),
        dataFrame(1, body, true),
      ];
      const variants = [
        () => grpc(envelope(bytes(512), 64 * 1024 * 1024)), // declares 64 MiB
        () => grpc(envelope(BOMB, BOMB.length, 1), [["grpc-encoding", "gzip"]]), // 16 MiB of zeros, gzipped
        () => grpc(envelope(bytes(64), 10, 0)), // shorter than it says
        () => grpc(Buffer.concat([envelope(bytes(4)), bytes(3)])), // a torn second envelope
        () => [
          latin1(
            "POST /shop.v1.ProductService/WatchProducts HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\nContent-Length: 1029\r\n\r\n",
          ),
          envelope(bytes(1024), 0x7fffffff),
        ],
      ];
      return { chunks: pick(variants)(), requests: 1 };
    },
  ],
];

/** Slow senders: a head a byte every 200 ms, never finished and never closed by the client. */
const SLOW_SENDERS = 200;

function gatewayProcess(env: Record<string, string>): ChildProcess {
  const { command, args } = commandFor(RUNTIME, "actors/gateway/main.ts");
  return spawnProcess(command, args, { cwd: REPO_ROOT, env, maxOutputChars: 1024 * 1024 });
}

/** The process's open file descriptors and resident memory (Linux /proc). */
function usage(pid: number): { fds: number; rssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
  return { fds: readdirSync(`/proc/${pid}/fd`).length, rssMb: rssKb / 1024 };
}

/** Sends one attack on its own connection; resolves once the server closed it or the client left. */
function send(port: number, attack: Attack): Promise<"closed by the server" | "left by the client"> {
  return new Promise((resolve) => {
    const socket = connectSocket(port, "127.0.0.1");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (how: "closed by the server" | "left by the client") => {
      clearTimeout(timer);
      socket.destroy();
      resolve(how);
    };
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.on("close", () => done("closed by the server"));
    socket.on("connect", () => {
      for (const chunk of attack.chunks) socket.write(chunk);
      socket.end();
      timer = setTimeout(() => done("left by the client"), LINGER_MS);
    });
  });
}

/** A slow sender; resolves with how long after connecting the server closed it (or undefined). */
function slowSender(port: number, waitMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    // Timed from before the connection exists: the server's clock starts later, never earlier.
    const started = performance.now();
    const socket = connectSocket(port, "127.0.0.1");
    const head = latin1(`POST /v1/users HTTP/1.1\r\nHost: x\r\nX-Slow: ${"s".repeat(1_000)}`);
    let sent = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed && sent < head.length) socket.write(head.subarray(sent, ++sent));
    }, 200);
    const giveUp = setTimeout(() => finish(undefined), waitMs);
    const finish = (after: number | undefined) => {
      clearInterval(trickle);
      clearTimeout(giveUp);
      socket.destroy();
      resolve(after);
    };
    socket.on("error", () => {});
    socket.on("close", () => finish(performance.now() - started));
  });
}

describe("10,000 malformed requests", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let product: RunningActor;
  let gateway: ChildProcess;
  let port = 0;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    product = await serveActor(nc, productActor, { logger: silentLogger });
    const { publicKey } = await generateKeyPair("ES256");
    gateway = gatewayProcess({
      NATS_URL: server.url,
      GATEWAY_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_ADMIN_PORT: "off",
      GATEWAY_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      // The normal calls at the end come through 127.0.0.1 as a "proxy" naming another client,
      // so that the flood's own bucket (127.0.0.1, emptied by design) does not refuse them.
      GATEWAY_TRUSTED_PROXIES: "127.0.0.1",
      GATEWAY_JWT_PUBLIC_KEY: await exportSPKI(publicKey),
      GATEWAY_JWT_ALGORITHMS: "ES256",
      TROUPE_CONTRACTS: "proto/gen/shop",
      TROUPE_ROUTES: "off",
    });
    const ready = await logLine(gateway, "gateway ready");
    port = Number(new URL(String(ready.url)).port);
  });
  after(async () => {
    gateway?.kill("SIGKILL");
    await gateway?.exited;
    await product?.drain(1_000);
    await nc?.close();
    await server?.dispose();
  });

  const normalCalls = async () => {
    const asClient = { "x-forwarded-for": "198.51.100.7" };
    const rest = await fetch(`http://127.0.0.1:${port}/v1/products/p-1001`, { headers: asClient });
    assert.equal(rest.status, 200, await rest.clone().text());
    assert.equal(((await rest.json()) as { product: { id: string } }).product.id, "p-1001");
    for (const transport of [
      createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" }),
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }),
    ]) {
      const products = createClient(ProductService, transport);
      const { product: found } = await products.getProduct({ id: "p-1002" }, { headers: asClient });
      assert.equal(found?.id, "p-1002");
    }
  };

  test("leave the gateway serving, with its descriptors and memory bounded", {
    timeout: 120_000,
  }, async () => {
    assert.ok(existsSync(`/proc/${gateway.pid}/fd`), "this test reads /proc (Linux)");
    await normalCalls();
    const baseline = usage(gateway.pid);

    const attacks: Attack[] = [];
    for (const [kind, count, make] of KINDS) {
      let requests = 0;
      while (requests < count) {
        const attack = make();
        attacks.push(attack);
        requests += attack.requests;
      }
      assert.equal(requests, count, `${kind}: whole connections make up its count`);
    }
    const total = attacks.reduce((sum, a) => sum + a.requests, 0) + SLOW_SENDERS;
    assert.equal(total, 10_000, "10,000 malformed requests in all");
    // Shuffled, so that every kind meets every other on the server at once.
    for (let i = attacks.length - 1; i > 0; i--) {
      const j = int(i + 1);
      [attacks[i], attacks[j]] = [attacks[j] as Attack, attacks[i] as Attack];
    }

    const started = performance.now();
    const slow = Array.from({ length: SLOW_SENDERS }, () => slowSender(port, HEADERS_TIMEOUT_MS + 10_000));
    const outcomes = new Map<string, number>();
    let next = 0;
    let peakFds = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < attacks.length) {
          const attack = attacks[next++] as Attack;
          const how = await send(port, attack);
          outcomes.set(how, (outcomes.get(how) ?? 0) + 1);
          if (next % 500 === 0) peakFds = Math.max(peakFds, usage(gateway.pid).fds);
        }
      }),
    );
    const slowClosed = await Promise.all(slow);
    const elapsedS = (performance.now() - started) / 1000;

    // The process still runs and serves.
    assert.equal(gateway.exitStatus, undefined, `the gateway exited:\n${gateway.output().slice(-4000)}`);
    await normalCalls();

    // Every slow sender was cut off by the server, after the head timeout and not much later.
    const cut = slowClosed.filter((ms): ms is number => ms !== undefined);
    assert.equal(cut.length, SLOW_SENDERS, "every slow sender was disconnected by the gateway");
    assert.ok(
      cut.every((ms) => ms >= HEADERS_TIMEOUT_MS && ms <= HEADERS_TIMEOUT_MS + 5_000),
      `slow senders cut after ${Math.round(Math.min(...cut))}–${Math.round(Math.max(...cut))} ms`,
    );

    // Descriptors come back to where they were: no connection is held on to.
    let after = usage(gateway.pid);
    for (let i = 0; i < 100 && after.fds > baseline.fds + 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = usage(gateway.pid);
    }
    assert.ok(after.fds <= baseline.fds + 10, `open descriptors: ${baseline.fds} before, ${after.fds} after`);
    assert.ok(
      after.rssMb < baseline.rssMb + 300,
      `resident memory: ${baseline.rssMb.toFixed(0)} MB before, ${after.rssMb.toFixed(0)} MB after`,
    );
    console.log(
      `10,000 malformed requests in ${elapsedS.toFixed(1)} s on ${RUNTIME}: ${[...outcomes]
        .map(([how, n]) => `${n} ${how}`)
        .join(
          ", ",
        )}; descriptors ${baseline.fds} → peak ${peakFds} → ${after.fds}; RSS ${baseline.rssMb.toFixed(0)} → ${after.rssMb.toFixed(0)} MB`,
    );
  });
});
