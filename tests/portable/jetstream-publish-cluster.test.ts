/**
 * Publishing on a 3-node cluster, three copies of the stream (docs/adr/0017-facts-never-expire.md,
 * "Refinements"): two publishes of one message id at once, as PlaceOrder and the PaymentCaptured
 * handler announce the same order. The stream's leader refuses the second while its replicas
 * have not applied the first ("duplicate message id is in process"); the publish asks again and
 * gets the duplicate ack, so both callers learn that the event is stored, and it is stored once.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, publishEvent } from "troupe";
import { eventStream, reconcileStreams } from "troupe/jetstream";
import { eventStreamName } from "troupe/protocol";
import { type NatsCluster, startNatsCluster } from "troupe/testing";
import { OrderPlacedSchema } from "../../proto/gen/shop/v1/order_pb.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "twice";
/** Pairs published; on one connection nearly every pair meets the refusal without the retry. */
const PAIRS = 20;

let cluster: NatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  cluster = await startNatsCluster({ size: 3 });
  nc = await connect({ servers: [...cluster.urls] });
  jsm = await jetstreamManager(nc);
  // A cluster whose servers all report JetStream healthy may still place no R3 stream for a
  // moment ("no suitable peers for placement, peer offline"): ask again until the peers are known.
  const spec = eventStream("shop.v1", { namespace: NAMESPACE, replicas: 3 });
  for (const until = Date.now() + 30_000; ; ) {
    try {
      await reconcileStreams(jsm, nc.info?.version ?? "", [spec]);
      break;
    } catch (err) {
      if (!String(err).includes("no suitable peers") || Date.now() > until) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
});

after(async () => {
  await nc?.close();
  await cluster?.dispose();
});

test("one id published twice at once on an R3 stream: both succeed, stored once", TIMEOUT, async () => {
  const js = jetstream(nc);
  const stream = eventStreamName("shop.v1", NAMESPACE);
  for (let i = 0; i < PAIRS; i++) {
    const orderId = `o-${i}`;
    const publish = () =>
      publishEvent(
        js,
        OrderPlacedSchema,
        { orderId },
        { namespace: NAMESPACE, id: `order-placed-${orderId}` },
      );
    const [first, second] = await Promise.all([publish(), publish()]);
    assert.ok(first && second);
    assert.deepEqual(
      [first.duplicate, second.duplicate].sort(),
      [false, true],
      `${orderId}: one publish stored it, the other was told it is a duplicate`,
    );
    assert.equal(first.seq, second.seq, `${orderId}: both name the one stored message`);
  }
  assert.equal((await jsm.streams.info(stream)).state.messages, PAIRS, "each event stored once");
});
