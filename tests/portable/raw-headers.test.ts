/**
 * `pickMessageHeaders` (runtime/protocol/raw-headers.ts) reads a call's protocol headers from the
 * header bytes nats.js keeps, without decoding the block. Over real messages from a nats-server
 * (built by nats.js, and written by hand as HPUB frames with odd spellings), it must give what
 * `pickHeaders(msg.headers, …)` gives, and it must really read the bytes: if nats.js moves the
 * fields it reads, the first test fails instead of the host silently paying for the full decode.
 * The last test counts nats.js's decodes while a host serves calls: none unless a handler reads
 * its metadata.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { MsgHdrsImpl } from "@nats-io/nats-core/internal";
import { connect, createNatsTransport, implement, silentLogger } from "troupe";
import { serveServices } from "troupe/host";
import { Header } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { BenchService } from "../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { pickHeaders } from "../../runtime/protocol/metadata.ts";
import { pickMessageHeaders, rawHeaderBlock } from "../../runtime/protocol/raw-headers.ts";
import { openTcp } from "../support/raw-tcp.ts";

const NAMES = [Header.contentType, Header.timeoutMs, "x-other"] as const;

describe("protocol headers read from the header bytes", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  before(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.dispose();
  });

  /** The messages `send` causes on a fresh subject, in order. */
  async function receive(count: number, send: (subject: string) => Promise<void>): Promise<Msg[]> {
    const subject = `raw.headers.${Math.random().toString(36).slice(2)}`;
    const sub = nc.subscribe(subject, { max: count });
    await nc.flush();
    await send(subject);
    const messages: Msg[] = [];
    for await (const msg of sub) messages.push(msg);
    return messages;
  }

  test("messages nats.js built: the same values, read from the bytes", async () => {
    const messages = await receive(4, async (subject) => {
      const a = headers();
      a.set(Header.contentType, "application/proto");
      a.set(Header.timeoutMs, "2500");
      const b = headers();
      b.append("X-Other", "first");
      b.append("x-other", "second");
      b.set("Connect-Timeout-Ms", " 7 ");
      const c = headers();
      c.set("x-unicode", "ünïcödé");
      c.set(Header.contentType, "application/json; charset=ütf-8");
      nc.publish(subject, "a", { headers: a });
      nc.publish(subject, "b", { headers: b });
      nc.publish(subject, "c", { headers: c });
      nc.publish(subject, "no headers");
    });
    for (const msg of messages.slice(0, 3)) {
      assert.ok(rawHeaderBlock(msg) instanceof Uint8Array, "nats.js's header bytes are where they were");
    }
    assert.equal(rawHeaderBlock(messages[3] as Msg), null, "a message without headers has no block");
    const picked = messages.map((msg) => pickMessageHeaders(msg, NAMES));
    assert.deepEqual(picked, [
      ["application/proto", "2500", undefined],
      [undefined, "7", "first"],
      ["application/json; charset=ütf-8", undefined, undefined],
      [undefined, undefined, undefined],
    ]);
    for (const msg of messages)
      assert.deepEqual(pickMessageHeaders(msg, NAMES), pickHeaders(msg.headers, NAMES));
  });

  test("header blocks written by hand: case, blanks, empty values and a status line", async () => {
    const blocks = [
      "NATS/1.0\r\ncontent-TYPE:   application/json  \r\nCONNECT-TIMEOUT-MS:12\r\n\r\n",
      "NATS/1.0\r\nX-Other:\r\nconnect-timeout-ms: 1\r\nconnect-timeout-ms: 2\r\n\r\n",
      "NATS/1.0 503\r\n\r\n",
      "NATS/1.0\r\nno colon here\r\nx-other: a:b:c\r\n\r\n",
      "NATS/1.0\r\nx-other: tab\there\t\r\n\r\n",
    ];
    const messages = await receive(blocks.length, async (subject) => {
      await using socket = await openTcp(server.url);
      await socket.readLine(); // INFO
      let frames = 'CONNECT {"verbose":false,"headers":true,"no_responders":false}\r\n';
      for (const block of blocks) {
        const payload = "payload";
        const length = new TextEncoder().encode(block).length;
        frames += `HPUB ${subject} ${length} ${length + payload.length}\r\n${block}${payload}\r\n`;
      }
      await socket.send(`${frames}PING\r\n`);
      assert.equal(await socket.readLine(), "PONG");
    });
    assert.equal(messages.length, blocks.length);
    const picked = messages.map((msg) => pickMessageHeaders(msg, NAMES));
    assert.deepEqual(picked, [
      ["application/json", "12", undefined],
      [undefined, "1", ""],
      [undefined, undefined, undefined],
      [undefined, undefined, "a:b:c"],
      [undefined, undefined, "tab\there"],
    ]);
    for (const msg of messages) {
      assert.equal(new TextDecoder().decode(msg.data), "payload", "the payload is untouched");
      assert.deepEqual(pickMessageHeaders(msg, NAMES), pickHeaders(msg.headers, NAMES));
    }
  });

  test("a served call decodes its header block only when the handler reads its metadata", async () => {
    // Every decode of a header block by nats.js, counted (the host's requests carry one: the
    // deadline; its plain replies carry none).
    let decodes = 0;
    const decode = MsgHdrsImpl.decode;
    MsgHdrsImpl.decode = (bytes: Uint8Array) => {
      decodes++;
      return decode.call(MsgHdrsImpl, bytes);
    };
    const seen: (string | null)[] = [];
    const host = await serveServices(
      nc,
      [
        implement(BenchService, {
          echo(request, ctx) {
            if (request.payload.length > 0) seen.push(ctx.requestHeader.get("x-tenant"));
            return { payload: request.payload };
          },
        }),
      ],
      { name: "raw-headers-bench", logger: silentLogger },
    );
    try {
      const bench = createClient(BenchService, createNatsTransport({ nc }));
      await bench.echo({}, { headers: { "x-tenant": "acme" } });
      assert.equal(decodes, 0, "a handler that reads no metadata: nothing decoded");
      await bench.echo({ payload: new Uint8Array([1]) }, { headers: { "x-tenant": "acme" } });
      assert.deepEqual(seen, ["acme"], "the metadata is there when asked for");
      assert.equal(decodes, 1, "read once, for the handler that asked");
    } finally {
      MsgHdrsImpl.decode = decode;
      await host.drain(1_000);
    }
  });
});
