/**
 * The 3-node cluster the fault tests build on: it forms on loopback routes and keeps an R3
 * stream writable, without losing acknowledged messages, while one node is down.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { jetstream, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsCluster } from "troupe/testing";

test("a 3-node cluster keeps an R3 stream writable with one node down", { timeout: 60_000 }, async () => {
  await using cluster = await startNatsCluster({ size: 3 });
  assert.equal(new Set(cluster.servers.map((s) => s.port)).size, 3);
  assert.ok(cluster.servers.every((s) => s.port !== 4222));

  // Connect through the first node only, so killing the third never touches our socket.
  const [first, , third] = cluster.servers;
  assert.ok(first && third);
  const nc = await connect({ servers: first.url });
  try {
    // A generous API timeout: on a loaded machine the meta leader of a cluster formed a moment ago
    // took longer than the default 5 s to place the stream (a CI run on Deno).
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const created = await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
    assert.equal(created.config.num_replicas, 3);
    assert.equal(created.cluster?.replicas?.length, 2, "a leader and two replicas");
    const js = jetstream(nc);

    // A new R3 stream elects its leader, and a killed leader is replaced by the survivors; until
    // then a publish finds no responder. Publish until the stream acknowledges. The message id
    // makes a retried publish that did land the first time a duplicate, not a second copy.
    const publish = async (n: number): Promise<PubAck> => {
      const id = `o${n}`;
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          return await js.publish("orders.placed", new TextEncoder().encode(id), {
            msgID: id,
            timeout: 2_000,
          });
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };
    for (let n = 1; n <= 5; n++) assert.equal((await publish(n)).seq, n);

    const killed = await third.kill();
    assert.equal(killed.signal, "SIGKILL");

    for (let n = 6; n <= 10; n++) assert.equal((await publish(n)).seq, n);

    const info = await jsm.streams.info("ORDERS");
    assert.equal(info.state.messages, 10);
    assert.notEqual(info.cluster?.leader, third.name);
    const offline = info.cluster?.replicas?.find((r) => r.name === third.name);
    assert.ok(
      offline && (offline.offline === true || offline.current === false),
      JSON.stringify(info.cluster),
    );
  } finally {
    await nc.close();
  }
});
