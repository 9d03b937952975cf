/**
 * The public port's limits against slow, idle and oversized clients (runtime/platform/
 * connection-guard.ts, docs/adr/0029-a-hardened-edge.md), on every runtime, over raw sockets:
 * a head or a body trickled a byte at a time, a connection left idle, too many or too large
 * header fields, too many streams — each cut off within a bounded time — while a client that
 * uses its connection normally, and long-lived streams through the gateway whose messages are
 * further apart than every timeout, are not.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as connectSocket, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as connectTls } from "node:tls";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, defineActor, implement, type RunningActor, serveActor, silentLogger } from "troupe";
import { type HttpLimits, type RunningGateway, serveGateway } from "troupe/gateway";
import { ensureLocalCertificates } from "troupe/security";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { EchoService } from "../../proto/gen/troupe/testing/v1/echo_pb.ts";
import { type HttpServer, serveHttp } from "../../runtime/platform/http2-server.ts";
import {
  dataFrame,
  FrameType,
  H2_PREFACE,
  headersFrame,
  parseFrames,
  requestHeaders,
  settings,
} from "../support/raw-http2.ts";

const TIMEOUT = { timeout: 30_000 };
const LIMITS: HttpLimits = {
  headersTimeoutMs: 400,
  idleTimeoutMs: 600,
  bodyTimeoutMs: 600,
  maxHeaderBytes: 4096,
  maxHeaderCount: 20,
  maxConcurrentStreams: 3,
};
/** How late a cut-off may come: the sweep's period (a quarter of the shortest limit) and a loaded machine. */
const LATE_MS = 2_500;

interface Probe {
  /** When the server closed the connection, in ms after connecting; undefined: still open at `waitMs`. */
  readonly closedAfterMs: number | undefined;
  readonly received: Buffer;
}

/** How a probe connects: cleartext, or TLS offering these ALPN protocols (trusting `ca`). */
type Dial = { readonly alpn: string[]; readonly ca: Buffer } | undefined;

/** Connects, lets `script` write, and waits for the server to close the connection (or `waitMs`). */
function probe(
  port: number,
  script: (socket: Socket) => void,
  waitMs = LATE_MS + 1_000,
  dial: Dial = undefined,
): Promise<Probe> {
  return new Promise((resolve) => {
    // Timed from before the connection exists: the server's clock starts later, never earlier.
    const started = performance.now();
    const socket =
      dial === undefined
        ? connectSocket(port, "127.0.0.1")
        : connectTls({
            port,
            host: "127.0.0.1",
            servername: "localhost",
            ca: dial.ca,
            ALPNProtocols: dial.alpn,
          });
    let received = Buffer.alloc(0);
    const done = (closedAfterMs: number | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ closedAfterMs, received });
    };
    const timer = setTimeout(() => done(undefined), waitMs);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
    socket.on("error", () => {});
    socket.on("close", () => done(performance.now() - started));
    socket.on(dial === undefined ? "connect" : "secureConnect", () => script(socket));
  });
}

/** Writes `bytes` one at a time, every `everyMs`, until the socket closes. */
function trickle(socket: Socket, bytes: Uint8Array, everyMs = 40): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= bytes.length) {
      clearInterval(timer);
      return;
    }
    socket.write(bytes.subarray(at, ++at));
  }, everyMs);
}

/** Asserts that the connection was closed no sooner than `limitMs` and not much later. */
function cutOffAfter(result: Probe, limitMs: number, what: string): void {
  assert.ok(result.closedAfterMs !== undefined, `${what}: still open`);
  assert.ok(
    result.closedAfterMs >= limitMs && result.closedAfterMs <= limitMs + LATE_MS,
    `${what}: closed after ${Math.round(result.closedAfterMs)} ms, the limit is ${limitMs} ms`,
  );
}

const h1 = (text: string) => Buffer.from(text, "latin1");
const SLOW_HEAD = h1(`GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(200)}\r\n\r\n`);
/** Its first bytes are the HTTP/2 preface's too ("P"): the protocol is known only at the second. */
const SLOW_POST = h1(`POST / HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(200)}\r\n\r\n`);

describe("connection limits of the HTTP server", () => {
  let server: HttpServer;
  before(async () => {
    server = await serveHttp({
      port: 0,
      hostname: "127.0.0.1",
      limits: LIMITS,
      streamingPaths: ["/client-stream"],
      fetch: async (request) => {
        if (request.body !== null) await request.arrayBuffer();
        return new Response("ok");
      },
    });
  });
  after(async () => {
    await server?.close(0);
  });

  test(
    "a silent client, and a head sent a byte at a time, are cut off after headersTimeoutMs",
    TIMEOUT,
    async () => {
      const results = await Promise.all([
        probe(server.port, () => {}),
        probe(server.port, (s) => trickle(s, SLOW_HEAD)),
        probe(server.port, (s) => trickle(s, SLOW_POST)),
        probe(server.port, (s) => trickle(s, H2_PREFACE)),
        probe(server.port, (s) => s.write(Buffer.concat([H2_PREFACE, settings()]))),
        probe(server.port, (s) => {
          s.write(Buffer.concat([H2_PREFACE, settings()]));
          trickle(s, headersFrame(1, requestHeaders("GET", "/", [["x-pad", "a".repeat(200)]]), true));
        }),
      ]);
      const [silent, slowHead, slowPost, slowPreface, h2Silent, h2SlowHeaders] = results;
      cutOffAfter(silent as Probe, LIMITS.headersTimeoutMs, "nothing sent");
      cutOffAfter(slowHead as Probe, LIMITS.headersTimeoutMs, "HTTP/1.1 head trickled");
      assert.equal((slowHead as Probe).received.length, 0, "no request was served");
      cutOffAfter(slowPost as Probe, LIMITS.headersTimeoutMs, "HTTP/1.1 POST head trickled");
      cutOffAfter(slowPreface as Probe, LIMITS.headersTimeoutMs, "HTTP/2 preface trickled");
      cutOffAfter(h2Silent as Probe, LIMITS.headersTimeoutMs, "HTTP/2 connection without a stream");
      cutOffAfter(h2SlowHeaders as Probe, LIMITS.headersTimeoutMs, "HTTP/2 HEADERS trickled");
    },
  );

  test("a keep-alive connection in use stays open; once idle it is closed", TIMEOUT, async () => {
    const result = await probe(
      server.port,
      (s) => {
        let sent = 0;
        const next = () => {
          s.write(h1("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
          if (++sent < 5) setTimeout(next, LIMITS.headersTimeoutMs / 2);
        };
        next();
      },
      5 * (LIMITS.headersTimeoutMs / 2) + LIMITS.headersTimeoutMs + LATE_MS,
    );
    const answers = result.received.toString("latin1").match(/HTTP\/1\.1 200/g) ?? [];
    // Deno's node:http closes a connection it was handed after each response, keep-alive or
    // not: there is then no idle connection to close (the first answer came, and the close).
    if (answers.length === 1 && (result.closedAfterMs ?? 0) < LIMITS.headersTimeoutMs / 2) return;
    assert.equal(answers.length, 5, "five requests on one connection, each answered");
    assert.ok(result.closedAfterMs !== undefined, "then closed for idleness");
    assert.ok(result.closedAfterMs >= 4 * (LIMITS.headersTimeoutMs / 2) + LIMITS.headersTimeoutMs);
  });

  test(
    "a body sent a byte at a time is cut off after bodyTimeoutMs, not on a streaming path",
    TIMEOUT,
    async () => {
      const body = Buffer.alloc(500, 0x61);
      const [h1Slow, h1Streaming, h2Slow] = await Promise.all([
        probe(server.port, (s) => {
          s.write(h1("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"));
          trickle(s, body);
        }),
        probe(server.port, (s) => {
          s.write(h1("POST /client-stream HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"));
          trickle(s, body);
        }),
        probe(server.port, (s) => {
          s.write(
            Buffer.concat([H2_PREFACE, settings(), headersFrame(1, requestHeaders("POST", "/"), false)]),
          );
          const timer = setInterval(() => {
            if (s.destroyed) clearInterval(timer);
            else s.write(dataFrame(1, Buffer.from("a"), false));
          }, 40);
        }),
      ]);
      cutOffAfter(h1Slow, LIMITS.bodyTimeoutMs, "HTTP/1.1 body trickled");
      assert.equal(h1Streaming.closedAfterMs, undefined, "a client stream's body has no timeout");
      // HTTP/2: the stream is reset (CANCEL), then the connection, idle, is closed. (Bun's HTTP/2
      // may send the same RST_STREAM twice, racing the trickled frames: what counts is which.)
      const resets = parseFrames(h2Slow.received).frames.filter((f) => f.type === FrameType.rstStream);
      assert.deepEqual(
        [...new Set(resets.map((f) => `${f.streamId}:${f.payload.readUInt32BE(0)}`))],
        ["1:8"],
        "stream 1 reset with CANCEL",
      );
      cutOffAfter(h2Slow, LIMITS.bodyTimeoutMs + LIMITS.idleTimeoutMs, "HTTP/2 body trickled, then idle");
    },
  );

  test(
    "an HTTP/2 connection left idle after its streams is closed after idleTimeoutMs",
    TIMEOUT,
    async () => {
      const result = await probe(server.port, (s) =>
        s.write(Buffer.concat([H2_PREFACE, settings(), headersFrame(1, requestHeaders("GET", "/"), true)])),
      );
      const frames = parseFrames(result.received).frames;
      assert.ok(
        frames.some((f) => f.type === FrameType.headers && f.streamId === 1),
        "the request was answered",
      );
      cutOffAfter(result, LIMITS.idleTimeoutMs, "idle HTTP/2 connection");
      assert.ok(
        frames.some((f) => f.type === FrameType.goaway),
        "with a GOAWAY",
      );
    },
  );

  test("too many or too large header fields are refused (431, RST_STREAM)", TIMEOUT, async () => {
    const many = Array.from({ length: LIMITS.maxHeaderCount + 1 }, (_, i) => `X-${i}: v\r\n`).join("");
    const tooMany = await probe(server.port, (s) => s.write(h1(`GET / HTTP/1.1\r\nHost: x\r\n${many}\r\n`)));
    assert.match(tooMany.received.toString("latin1"), /^HTTP\/1\.1 431 /);
    assert.match(tooMany.received.toString("latin1"), /header fields; the limit is 20/);
    const tooLarge = await probe(server.port, (s) =>
      s.write(h1(`GET / HTTP/1.1\r\nHost: x\r\nX-A: ${"a".repeat(LIMITS.maxHeaderBytes)}\r\n\r\n`)),
    );
    assert.match(tooLarge.received.toString("latin1"), /^HTTP\/1\.1 431 /);
    const fine = await probe(server.port, (s) =>
      s.write(h1(`GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${"X-B: v\r\n".repeat(10)}\r\n`)),
    );
    assert.match(fine.received.toString("latin1"), /^HTTP\/1\.1 200 /, "a head within the limits passes");

    for (const extra of [
      Array.from({ length: LIMITS.maxHeaderCount + 1 }, (_, i): [string, string] => [`x-${i}`, "v"]),
      [["x-a", "a".repeat(LIMITS.maxHeaderBytes)]] as [string, string][],
    ]) {
      const h2 = await probe(server.port, (s) =>
        s.write(
          Buffer.concat([H2_PREFACE, settings(), headersFrame(1, requestHeaders("GET", "/", extra), true)]),
        ),
      );
      const frames = parseFrames(h2.received).frames;
      // Refused by the runtime (RST_STREAM) or by the server (a 431 response): never served.
      const refused =
        frames.some((f) => f.type === FrameType.rstStream && f.streamId === 1) ||
        frames.some(
          (f) => f.type === FrameType.headers && f.streamId === 1 && f.payload.includes(Buffer.from("431")),
        );
      assert.ok(refused, `HTTP/2 with ${extra.length} fields: ${frames.map((f) => f.type).join(",")}`);
    }
  });

  test("streams past maxConcurrentStreams are refused (REFUSED_STREAM)", TIMEOUT, async () => {
    const opened = [1, 3, 5, 7, 9].map((id) =>
      headersFrame(id, requestHeaders("POST", "/client-stream"), false),
    );
    const result = await probe(
      server.port,
      (s) => s.write(Buffer.concat([H2_PREFACE, settings(), ...opened])),
      1_000,
    );
    const refused = parseFrames(result.received)
      .frames.filter((f) => f.type === FrameType.rstStream && f.payload.readUInt32BE(0) === 0x7)
      .map((f) => f.streamId);
    assert.deepEqual(refused, [7, 9]);
  });
});

describe("connection limits of the HTTPS server", () => {
  let dir: string;
  let ca: Buffer;
  let server: HttpServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "troupe-limits-tls-"));
    const certs = await ensureLocalCertificates(dir);
    ca = readFileSync(certs.caFile);
    server = await serveHttp({
      port: 0,
      hostname: "127.0.0.1",
      limits: LIMITS,
      tls: { certFile: certs.server.certFile, keyFile: certs.server.keyFile },
      fetch: async (request) => {
        if (request.body !== null) await request.arrayBuffer();
        return new Response("ok");
      },
    });
  });
  after(async () => {
    await server?.close(0);
    rmSync(dir, { recursive: true, force: true });
  });

  test(
    "a handshake never begun, a head or a body trickled, an idle session: all cut off",
    TIMEOUT,
    async () => {
      const h1 = { alpn: ["http/1.1"], ca };
      const h2 = { alpn: ["h2"], ca };
      const [noHandshake, slowHead, slowBody, h2Silent, h2Idle] = await Promise.all([
        probe(server.port, () => {}),
        probe(server.port, (s) => trickle(s, SLOW_POST), LATE_MS + 1_000, h1),
        probe(
          server.port,
          (s) => {
            s.write(Buffer.from("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n", "latin1"));
            trickle(s, Buffer.alloc(500, 0x61));
          },
          LATE_MS + 1_000,
          h1,
        ),
        probe(server.port, (s) => s.write(Buffer.concat([H2_PREFACE, settings()])), LATE_MS + 1_000, h2),
        probe(
          server.port,
          (s) =>
            s.write(
              Buffer.concat([H2_PREFACE, settings(), headersFrame(1, requestHeaders("GET", "/"), true)]),
            ),
          LATE_MS + 1_000,
          h2,
        ),
      ]);
      cutOffAfter(noHandshake, LIMITS.headersTimeoutMs, "no TLS handshake");
      cutOffAfter(slowHead, LIMITS.headersTimeoutMs, "HTTPS/1.1 head trickled");
      cutOffAfter(slowBody, LIMITS.bodyTimeoutMs, "HTTPS/1.1 body trickled");
      cutOffAfter(h2Silent, LIMITS.headersTimeoutMs, "h2 over TLS without a stream");
      cutOffAfter(h2Idle, LIMITS.idleTimeoutMs, "h2 over TLS idle after a stream");
      assert.ok(
        parseFrames(h2Idle.received).frames.some((f) => f.type === FrameType.headers && f.streamId === 1),
        "its request was answered first",
      );
    },
  );
});

const slowEcho = defineActor({
  name: "slow-echo",
  version: "1.0.0",
  description: "echoes, with pauses longer than the gateway's timeouts",
  serves: [EchoService],
  services: () => [
    implement(EchoService, {
      echo: (req) => ({ text: req.text }),
      async *echoMany(req) {
        for (let i = 1; i <= req.repeat; i++) {
          if (i > 1) await pause(GAP_MS);
          yield { text: `${req.text} ${i}` };
        }
      },
      async collect(reqs) {
        const texts: string[] = [];
        for await (const req of reqs) texts.push(req.text);
        return { text: texts.join(",") };
      },
      async *chat(reqs) {
        for await (const req of reqs) yield { text: `re: ${req.text}` };
      },
    }),
  ],
});

/** Longer than every limit: a stream must not be cut off for being quiet. */
const GAP_MS = LIMITS.headersTimeoutMs + LIMITS.idleTimeoutMs + LIMITS.bodyTimeoutMs;

/** A pause on purpose: the quiet time is what is tested, there is no event to wait for. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("long-lived streams through the gateway outlive every timeout", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let actor: RunningActor;
  let gateway: RunningGateway;
  before(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
    actor = await serveActor(nc, slowEcho, { logger: silentLogger });
    gateway = await serveGateway(
      { nc, services: [EchoService], logger: silentLogger },
      { port: 0, hostname: "127.0.0.1", discovery: false, limits: LIMITS },
    );
  });
  after(async () => {
    await gateway?.stop(1_000);
    await actor?.drain(1_000);
    await nc?.close();
    await server?.dispose();
  });

  const transports: [string, () => Transport][] = [
    ["gRPC", () => createGrpcTransport({ baseUrl: gateway.url })],
    ["Connect over HTTP/1.1", () => createConnectTransport({ baseUrl: gateway.url, httpVersion: "1.1" })],
    ["Connect over HTTP/2", () => createConnectTransport({ baseUrl: gateway.url, httpVersion: "2" })],
  ];
  for (const [name, transport] of transports) {
    test(`${name}: a server stream with quiet gaps`, TIMEOUT, async () => {
      const echo: Client<typeof EchoService> = createClient(EchoService, transport());
      const texts: string[] = [];
      for await (const res of echo.echoMany({ text: "tick", repeat: 3 }, { timeoutMs: 20_000 }))
        texts.push(res.text);
      assert.deepEqual(texts, ["tick 1", "tick 2", "tick 3"]);
    });
  }

  test("gRPC: a bidi stream whose client is quiet longer than every timeout", TIMEOUT, async () => {
    const echo = createClient(EchoService, createGrpcTransport({ baseUrl: gateway.url }));
    async function* lines() {
      yield { text: "one" };
      await pause(GAP_MS);
      yield { text: "two" };
    }
    const answers: string[] = [];
    for await (const res of echo.chat(lines(), { timeoutMs: 20_000 })) answers.push(res.text);
    assert.deepEqual(answers, ["re: one", "re: two"]);
  });
});
