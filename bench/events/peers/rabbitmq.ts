/**
 * The RabbitMQ peer, through amqplib, as a RabbitMQ user makes events durable: a durable queue
 * (the run's, rabbitmq-queue.ts), persistent messages (`deliveryMode` 2) published on a confirm
 * channel, each publish done when the broker confirms it (the broker confirms a persistent message
 * once it is written to disk), and a consumer with manual acks (`noAck: false`, one `ack` per
 * message after the handler) and a prefetch of 100 (as nats.js `consume()` pulls 100). Messages go
 * through the default exchange straight to the queue; the key has no place there. The payload is
 * the encoded EchoRequest, as the raw JetStream peer sends it.
 */
import { type Channel, type ConsumeMessage, connect } from "amqplib";
import { encodedEchoRequestOfSize } from "../../shared/echo-request.ts";
import { checkPayload, type EventStore, type EventsPeer } from "../events-peer.ts";
import { amqpTarget } from "../rabbitmq-queue.ts";

/** Unacknowledged messages the broker sends the consumer ahead. */
const PREFETCH = 100;
/** The default exchange: routes by queue name. */
const DEFAULT_EXCHANGE = "";

export async function openRabbitmqPeer(): Promise<EventsPeer> {
  const { url, queue } = amqpTarget();
  const connection = await connect(url);
  const admin = await connection.createChannel();
  const publishing = await connection.createConfirmChannel();
  // The consuming channel, while a consume runs: where the last round trip proves the acks taken.
  let consuming: Channel | undefined;

  const store: EventStore = {
    async fresh() {
      await admin.deleteQueue(queue);
      await admin.assertQueue(queue, { durable: true });
    },
    async messages() {
      return (await admin.checkQueue(queue)).messageCount;
    },
    async waitAllAcked(count, timeoutMs) {
      if (consuming === undefined) throw new Error("no consumer is running");
      // A channel's methods are handled in order: the answer to this one comes after every ack
      // sent before it on the same channel has been taken. Nothing may be left ready.
      const timer = new Promise<never>((_resolve, reject) =>
        setTimeout(() => reject(new Error(`acks not confirmed after ${timeoutMs} ms`)), timeoutMs).unref(),
      );
      const { messageCount } = await Promise.race([consuming.checkQueue(queue), timer]);
      if (messageCount !== 0) throw new Error(`${messageCount} of ${count} events still in the queue`);
    },
    async remove() {
      await admin.deleteQueue(queue);
    },
  };

  return {
    store,
    publisher(sizeBytes) {
      const payload = Buffer.from(encodedEchoRequestOfSize(sizeBytes));
      return () =>
        new Promise<void>((resolve, reject) => {
          publishing.publish(DEFAULT_EXCHANGE, queue, payload, { persistent: true }, (err: unknown) =>
            err === null || err === undefined ? resolve() : reject(err),
          );
        });
    },
    async consume(sizeBytes, onHandled) {
      const channel = await connection.createChannel();
      consuming = channel;
      await channel.prefetch(PREFETCH);
      let failed: (err: unknown) => void = () => {};
      const ended = new Promise<void>((resolve, reject) => {
        failed = reject;
        channel.once("close", () => resolve());
        channel.once("error", reject);
      });
      ended.catch(() => {}); // observed by the measuring process; may settle after stop()
      const { consumerTag } = await channel.consume(
        queue,
        (msg: ConsumeMessage | null) => {
          if (msg === null) return failed(new Error("the broker cancelled the consumer"));
          try {
            checkPayload(sizeBytes, msg.content.length); // the no-op handler
          } catch (err) {
            return failed(err);
          }
          channel.ack(msg);
          onHandled();
        },
        { noAck: false },
      );
      return {
        ended,
        async stop() {
          await channel.cancel(consumerTag);
          await channel.close();
          consuming = undefined;
        },
      };
    },
    close: () => connection.close(),
  };
}
