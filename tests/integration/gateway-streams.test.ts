/**
 * Every method kind through the gateway, from clients Troupe did not write: connect-node's gRPC
 * and Connect transports over HTTP/2 call a test-only service with one public method per kind
 * (proto/troupe/testing/v1/echo.proto) — unary, server stream, client stream, bidi stream —
 * served by an actor over NATS behind the gateway. The bidi call is interleaved: each answer is
 * read before the next message is sent, so it proves full duplex end to end. Response headers
 * and trailers the actor sets reach the caller.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, defineActor, implement, type RunningActor, serveActor, silentLogger } from "troupe";
import { type RunningGateway, serveGateway } from "troupe/gateway";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { EchoService } from "../../proto/gen/troupe/testing/v1/echo_pb.ts";

const TIMEOUT = { timeout: 30_000 };

const echoActor = defineActor({
  name: "echo",
  version: "1.0.0",
  description: "echoes, in every method kind",
  serves: [EchoService],
  services: () => [
    implement(EchoService, {
      echo: (req, ctx) => {
        ctx.responseHeader.set("x-echo-length", String(req.text.length));
        ctx.responseTrailer.set("x-echo-done", "yes");
        return { text: req.text };
      },
      async *echoMany(req, ctx) {
        ctx.responseHeader.set("x-echo-repeat", String(req.repeat));
        for (let i = 1; i <= req.repeat; i++) yield { text: `${req.text} ${i}` };
        ctx.responseTrailer.set("x-echo-sent", String(req.repeat));
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

/** An async iterable the test feeds one message at a time. */
function feed<T>() {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  return {
    push(value: T) {
      queue.push(value);
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (closed) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
  };
}

describe("every method kind through the gateway", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let actor: RunningActor;
  let gateway: RunningGateway;

  before(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
    actor = await serveActor(nc, echoActor, { logger: silentLogger });
    gateway = await serveGateway(
      { nc, services: [EchoService], logger: silentLogger },
      { port: 0, hostname: "127.0.0.1", discovery: false },
    );
  });

  after(async () => {
    await gateway?.stop(1_000);
    await actor?.drain(1_000);
    await nc?.close();
    await server?.dispose();
  });

  const protocols: [string, () => Transport][] = [
    ["gRPC", () => createGrpcTransport({ baseUrl: gateway.url })],
    ["Connect over HTTP/2", () => createConnectTransport({ baseUrl: gateway.url, httpVersion: "2" })],
  ];

  for (const [name, transport] of protocols) {
    test(`${name}: unary, server, client and bidi streams`, TIMEOUT, async () => {
      const echo: Client<typeof EchoService> = createClient(EchoService, transport());
      // The actor's response headers and trailers reach the outside caller.
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const seen = { onHeader: (h: Headers) => (header = h), onTrailer: (t: Headers) => (trailer = t) };
      assert.equal((await echo.echo({ text: "hi" }, seen)).text, "hi");
      assert.equal(header?.get("x-echo-length"), "2");
      assert.equal(trailer?.get("x-echo-done"), "yes");
      // REST has no trailers: both arrive as headers.
      const rest = await fetch(`${gateway.url}/v1/echo/hello`);
      assert.deepEqual(await rest.json(), { text: "hello" });
      assert.equal(rest.headers.get("x-echo-length"), "5");
      assert.equal(rest.headers.get("x-echo-done"), "yes");

      const many: string[] = [];
      for await (const res of echo.echoMany({ text: "tick", repeat: 3 }, seen)) many.push(res.text);
      assert.deepEqual(many, ["tick 1", "tick 2", "tick 3"]);
      assert.equal(header?.get("x-echo-repeat"), "3");
      assert.equal(trailer?.get("x-echo-sent"), "3", "a stream's trailers, once it ended");

      async function* texts() {
        for (const text of ["a", "b", "c"]) yield { text };
      }
      assert.equal((await echo.collect(texts())).text, "a,b,c");

      const lines = feed<{ text: string }>();
      const answers = echo.chat(lines)[Symbol.asyncIterator]();
      for (const text of ["one", "two", "three"]) {
        lines.push({ text });
        const answer = await answers.next();
        assert.equal(answer.done, false);
        assert.equal(answer.value?.text, `re: ${text}`, "answered before the next line is sent");
      }
      lines.close();
      assert.equal((await answers.next()).done, true);
    });
  }
});
