/**
 * The 3-node cluster the fault tests build on: it forms on loopback routes and keeps an R3
 * stream writable, without losing acknowledged messages, while one node is down.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { jetstream, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsCluster } from "../../runtime/testing.ts";

test("a 3-node cluster keeps an R3 stream writable with one node down", { timeout: 60_000 }, async () => {
  await using cluster = await startNatsCluster({ size: 3 });
  assert.equal(new Set(cluster.servers.map((s) => s.port)).size, 3);
  assert.ok(cluster.servers.every((s) => s.port !== 4222));

  // Connect through the first node only, so killing the third never touches our socket.
  const [first, , third] = cluster.servers;
  assert.ok(first && third);
  const nc = await connect({ servers: first.url });
  try {
    const jsm = await jetstreamManager(nc);
    const created = await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
    assert.equal(created.config.num_replicas, 3);
    assert.equal(created.cluster?.replicas?.length, 2, "a leader and two replicas");
    const js = jetstream(nc);
    for (let i = 1; i <= 5; i++) await js.publish("orders.placed", new TextEncoder().encode(`o${i}`));

    const killed = await third.kill();
    assert.equal(killed.signal, "SIGKILL");

    // If the killed node led the stream, the two survivors elect a new leader first: publish
    // until the stream acknowledges again. A message id makes a retried publish that did land
    // the first time a duplicate, not a second copy.
    const acks: PubAck[] = [];
    const deadline = Date.now() + 20_000;
    while (acks.length < 5) {
      const id = `o${6 + acks.length}`;
      try {
        acks.push(
          await js.publish("orders.placed", new TextEncoder().encode(id), { msgID: id, timeout: 2_000 }),
        );
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
    assert.deepEqual(
      acks.map((a) => a.seq),
      [6, 7, 8, 9, 10],
    );

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
