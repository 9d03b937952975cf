/**
 * How the gateway's HTTP server (runtime/platform/http2-server.ts) writes fetch responses: a
 * body that is complete when read (a unary answer) goes out in one write with its
 * `content-length`, and a body still being produced is streamed, its first chunk reaching the
 * client before the next one exists.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type HttpServer, serveHttp } from "../../runtime/platform/http2-server.ts";

const TIMEOUT = { timeout: 10_000 };

describe("HTTP server: response bodies", () => {
  let server: HttpServer;
  /** Releases the second chunk of the streamed response. */
  let release: () => void = () => {};
  before(async () => {
    server = await serveHttp({
      port: 0,
      hostname: "127.0.0.1",
      fetch: async (request) => {
        if (new URL(request.url).pathname === "/whole") {
          return new Response('{"product":{"id":"p-1001"}}', {
            headers: { "content-type": "application/json" },
          });
        }
        const second = new Promise<void>((resolve) => (release = resolve));
        const encoder = new TextEncoder();
        return new Response(
          new ReadableStream<Uint8Array>({
            async start(controller) {
              controller.enqueue(encoder.encode("first;"));
              await second;
              controller.enqueue(encoder.encode("second"));
              controller.close();
            },
          }),
        );
      },
    });
  });
  after(async () => {
    await server?.close(0);
  });

  test("a complete body is sent with its length, not chunked", TIMEOUT, async () => {
    const res = await fetch(`${server.url}/whole`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), "27");
    assert.equal(res.headers.get("transfer-encoding"), null);
    assert.equal(await res.text(), '{"product":{"id":"p-1001"}}');
  });

  test("a body still being produced is streamed chunk by chunk", TIMEOUT, async () => {
    const res = await fetch(`${server.url}/stream`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), null);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    // The first chunk arrives while the second does not exist yet.
    while (!text.includes("first;")) {
      const { done, value } = await reader.read();
      assert.ok(!done, "the stream ended before its first chunk");
      text += decoder.decode(value, { stream: true });
    }
    release();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    assert.equal(text, "first;second");
  });
});
