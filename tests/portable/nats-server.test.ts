/**
 * The test harness itself, on every runtime: an isolated, new-enough nats-server with JetStream
 * that tests can stop, restart and kill.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { isAtLeast, MIN_SERVER_VERSION, parseServerVersion } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";

const TIMEOUT = { timeout: 30_000 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe("startNatsServer", () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server.dispose();
  });

  async function withConnection<T>(fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
    const nc = await connect({ servers: server.url });
    try {
      return await fn(nc);
    } finally {
      await nc.close();
    }
  }

  test("runs a nats-server >= 2.11 on its own port, never the machine's 4222", TIMEOUT, async () => {
    assert.notEqual(server.port, 4222);
    assert.ok(server.running);
    const min = parseServerVersion(MIN_SERVER_VERSION);
    await withConnection(async (nc) => {
      const reported = parseServerVersion(nc.info?.version ?? "");
      assert.ok(reported && min && isAtLeast(reported, min), `server reports ${nc.info?.version}`);
      assert.equal(nc.info?.version, server.version);
      assert.equal(nc.info?.jetstream, true);
      assert.equal(nc.info?.port, server.port);
    });
  });

  test("serves JetStream with its store in the server's own directory", TIMEOUT, async () => {
    await withConnection(async (nc) => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "HARNESS", subjects: ["harness.>"] });
      const js = jetstream(nc);
      const ack = await js.publish("harness.one", encoder.encode("hello"));
      assert.equal(ack.stream, "HARNESS");
      assert.equal(ack.seq, 1);
      const stored = await jsm.streams.getMessage("HARNESS", { seq: 1 });
      assert.equal(decoder.decode(stored?.data), "hello");
      const info = await jsm.getAccountInfo();
      assert.ok(info.storage > 0, "the message is on disk");
    });
  });

  test("a restart keeps the port and the stream's data", TIMEOUT, async () => {
    const pidBefore = server.pid;
    await withConnection(async (nc) => {
      const js = jetstream(nc);
      for (let i = 2; i <= 10; i++) await js.publish("harness.many", encoder.encode(`m${i}`));
    });
    await server.restart();
    assert.notEqual(server.pid, pidBefore);
    await withConnection(async (nc) => {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info("HARNESS");
      assert.equal(info.state.messages, 10);
      const last = await jsm.streams.getMessage("HARNESS", { last_by_subj: "harness.many" });
      assert.equal(decoder.decode(last?.data), "m10");
    });
  });

  test("a SIGKILLed server is detected by the harness and by clients", TIMEOUT, async () => {
    const nc = await connect({ servers: server.url, reconnect: false });
    const closed = nc.closed();
    const status = await server.kill();
    assert.equal(status.signal, "SIGKILL");
    assert.equal(server.running, false);
    assert.equal(server.pid, undefined);
    assert.deepEqual(await server.exited, status);
    // Without reconnects the client closes as soon as it sees the socket die.
    await closed;
    assert.ok(nc.isClosed());
    // And the server comes back on the same port with its store intact.
    await server.start();
    await withConnection(async (again) => {
      const jsm = await jetstreamManager(again);
      assert.equal((await jsm.streams.info("HARNESS")).state.messages, 10);
    });
  });
});

describe("startNatsServer options", () => {
  test("max_payload is configurable and enforced by the server", TIMEOUT, async () => {
    await using server = await startNatsServer({ maxPayloadBytes: 4096, jetstream: false });
    const nc = await connect({ servers: server.url });
    try {
      assert.equal(nc.info?.max_payload, 4096);
      assert.equal(nc.info?.jetstream, undefined);
      assert.throws(() => nc.publish("big", new Uint8Array(4097)), /MAX_PAYLOAD_EXCEEDED|max_payload/i);
    } finally {
      await nc.close();
    }
  });

  test("two servers are isolated from each other", TIMEOUT, async () => {
    await using a = await startNatsServer();
    await using b = await startNatsServer();
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.dir, b.dir);
  });

  test("a server that cannot start reports why", TIMEOUT, async () => {
    await assert.rejects(
      startNatsServer({ config: "this is not { valid" }),
      /nats-server .* exited during start/,
    );
  });
});
