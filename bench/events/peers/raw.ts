/**
 * Baseline: nats.js JetStream with stock options, the floor. Publishes the EchoRequest encoded
 * once, with `jetstream(nc).publish(subject, payload)` (no message id), and consumes with
 * `consumer.consume()` on a durable pull consumer, calling `msg.ack()` for each message without
 * decoding it. It does less than Troupe (no encoding per event, no id, no decoding): see
 * bench/README.md, "Is it fair?".
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { encodedEchoRequestOfSize } from "../../shared/echo-request.ts";
import { CONSUMER, KEY_SUBJECTS, openJetStreamStore, RAW_CONSUMER_CONFIG, STREAM } from "../bench-stream.ts";
import { checkPayload, type EventsPeer } from "../events-peer.ts";

export async function openRawPeer(natsUrl: string): Promise<EventsPeer> {
  const nc = await connect({ servers: natsUrl });
  const js = jetstream(nc);
  const store = await openJetStreamStore(natsUrl);
  const jsm = await jetstreamManager(nc);
  return {
    store,
    publisher(sizeBytes) {
      const payload = encodedEchoRequestOfSize(sizeBytes);
      return async (keyIndex) => {
        await js.publish(KEY_SUBJECTS[keyIndex % KEY_SUBJECTS.length] as string, payload);
      };
    },
    async consume(sizeBytes, onHandled) {
      await jsm.consumers.add(STREAM, RAW_CONSUMER_CONFIG);
      const messages = await (await js.consumers.get(STREAM, CONSUMER)).consume();
      const ended = (async () => {
        for await (const msg of messages) {
          checkPayload(sizeBytes, msg.data.length); // the no-op handler
          msg.ack();
          onHandled();
        }
      })();
      ended.catch(() => messages.stop());
      return {
        ended,
        async stop() {
          messages.stop();
          await ended;
        },
      };
    },
    async close() {
      await nc.close();
      await store.close();
    },
  };
}
