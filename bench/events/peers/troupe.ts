/**
 * The Troupe peer: events published with the runtime's `publishEvent(js, EchoRequestSchema,
 * message, { key })` and consumed by its delivery loop, `consume()` (runtime/jetstream/consume.ts),
 * on the durable consumer Troupe declares for a service "bench" (`eventConsumer` and
 * `reconcileConsumer`), with a handler that does nothing but check the payload size. Every
 * option is Troupe's default. The connection is opened exactly as the raw peer opens its own.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { publishEvent } from "troupe";
import { consume, eventConsumer, reconcileConsumer } from "troupe/jetstream";
import { EchoRequestSchema } from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { echoRequestOfSize } from "../../shared/echo-request.ts";
import { CONSUMER, KEYS, openJetStreamStore, STREAM } from "../bench-stream.ts";
import { checkPayload, type EventsPeer } from "../events-peer.ts";

/** The service whose event consumer is read: its durable name is `bench_EchoRequest` (CONSUMER). */
const SERVICE = "bench";
/** How long `stop()` lets running handlers finish. */
const STOP_GRACE_MS = 5_000;

export async function openTroupePeer(natsUrl: string): Promise<EventsPeer> {
  const nc = await connect({ servers: natsUrl });
  const js = jetstream(nc);
  const store = await openJetStreamStore(natsUrl);
  return {
    store,
    publisher(sizeBytes) {
      const message = echoRequestOfSize(sizeBytes);
      return async (keyIndex) => {
        await publishEvent(js, EchoRequestSchema, message, { key: KEYS[keyIndex % KEYS.length] as string });
      };
    },
    async consume(sizeBytes, onHandled) {
      const spec = eventConsumer(SERVICE, EchoRequestSchema);
      if (spec.durable_name !== CONSUMER) {
        throw new Error(`Troupe names the consumer ${spec.durable_name}, the benchmark expects ${CONSUMER}`);
      }
      await reconcileConsumer(await jetstreamManager(nc), nc.info?.version ?? "", STREAM, spec);
      const payloadBytes = echoRequestOfSize(sizeBytes).payload.length;
      // The loop retries a handler that throws instead of reporting it: report it here.
      let handlerFailed: (err: unknown) => void = () => {};
      const handlerFailure = new Promise<never>((_resolve, reject) => (handlerFailed = reject));
      const running = await consume(
        nc,
        EchoRequestSchema,
        { stream: STREAM, consumer: CONSUMER, kind: "event" },
        (message) => {
          try {
            checkPayload(payloadBytes, message.payload.length); // the no-op handler
          } catch (err) {
            handlerFailed(err);
            throw err;
          }
          onHandled();
        },
      );
      const loopEnded = running.done.then((err) => {
        if (err !== undefined) throw err;
      });
      const ended = Promise.race([loopEnded, handlerFailure]);
      ended.catch(() => {}); // observed by the measuring process; may settle after stop()
      return { ended, stop: () => running.stop(STOP_GRACE_MS) };
    },
    async close() {
      await nc.close();
      await store.close();
    },
  };
}
