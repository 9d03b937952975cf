/**
 * Where the events benchmark's events live, named as ADR 7 names them for EchoRequest events of
 * proto package troupe.bench.v1 (troupe/protocol), and the stream work around a
 * measurement that is not itself measured: a fresh stream, and waiting until the server has
 * every ack. Both JetStream peers (raw and Troupe) use the same stream configuration.
 */
import { AckPolicy, type ConsumerConfig, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { eventStream } from "troupe/jetstream";
import { eventConsumerName, eventFilter, eventStreamName, eventSubject } from "troupe/protocol";
import { EchoRequestSchema } from "../../proto/gen/troupe/bench/v1/bench_pb.ts";
import type { EventStore } from "./events-peer.ts";

/** `troupe.bench.v1`: the proto package, which names the event stream. */
const PACKAGE = EchoRequestSchema.file.proto.package;

/** `EVT_troupe_bench_v1` */
export const STREAM = eventStreamName(PACKAGE);
/** `bench_EchoRequest`: the durable consumer of a service "bench" (ADR 7: `<service>_<Message>`). */
export const CONSUMER = eventConsumerName("bench", EchoRequestSchema);
/** `evt.troupe.bench.v1.EchoRequest.*` */
export const CONSUMER_FILTER = eventFilter(EchoRequestSchema);

/**
 * The keys events are published with, in rotation: `k000` … `k255`, so every subject has the
 * same length.
 */
export const KEYS: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => `k${String(i).padStart(3, "0")}`,
);

/** `evt.troupe.bench.v1.EchoRequest.<key>` for each of KEYS, in the same order. */
export const KEY_SUBJECTS: readonly string[] = KEYS.map((key) => eventSubject(EchoRequestSchema, key));

/**
 * The raw peer's durable pull consumer: ADR 7's name and filter, explicit ack, every other
 * setting the server's default.
 */
export const RAW_CONSUMER_CONFIG: Partial<ConsumerConfig> = {
  durable_name: CONSUMER,
  filter_subject: CONSUMER_FILTER,
  ack_policy: AckPolicy.Explicit,
};

/**
 * Deletes the stream if it exists and creates it empty, as Troupe declares the event stream of
 * troupe.bench.v1 (`eventStream()`, with its defaults: subjects `evt.troupe.bench.v1.>`, file
 * storage, limits retention discarding old messages, one replica, a 2-minute duplicate window).
 * One addition: at most MAX_STREAM_BYTES, so that a fast publish phase discards its oldest events
 * instead of failing when it would fill the test server's 2 GB file store.
 */
export async function freshStream(jsm: JetStreamManager): Promise<void> {
  await deleteStream(jsm);
  await jsm.streams.add({ ...eventStream(PACKAGE), max_bytes: MAX_STREAM_BYTES });
}

/** Deletes the stream with its consumers and messages; nothing when there is none. */
export async function deleteStream(jsm: JetStreamManager): Promise<void> {
  try {
    await jsm.streams.delete(STREAM);
  } catch (err) {
    if (!/stream not found/i.test(String(err))) throw err;
  }
}

/** 1.5 GiB: above what a 6-second publish phase of 4 KiB events stores here (about 1.4 GB at 56k/s). */
export const MAX_STREAM_BYTES = 1.5 * 1024 ** 3;

/** The number of messages in the stream. */
export async function streamMessages(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(STREAM)).state.messages;
}

/**
 * Resolves once the server has taken the ack of every message up to stream sequence `count`
 * on the durable consumer (its ack floor is there and nothing is pending); polls consumer info.
 */
export async function waitAllAcked(jsm: JetStreamManager, count: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const info = await jsm.consumers.info(STREAM, CONSUMER);
    if (info.ack_floor.stream_seq >= count && info.num_ack_pending === 0) return;
    if (performance.now() > deadline) {
      throw new Error(
        `acks missing after ${timeoutMs} ms: ack floor ${info.ack_floor.stream_seq} of ${count}, ` +
          `${info.num_ack_pending} pending, ${info.num_redelivered} redelivered`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** The JetStream peers' store, administered on a connection of its own (closed by `close()`). */
export interface JetStreamStore extends EventStore {
  close(): Promise<void>;
}

/**
 * The stream above as an EventStore, on its own connection to `natsUrl`, so that the peer's
 * connection carries only the peer's traffic.
 */
export async function openJetStreamStore(natsUrl: string): Promise<JetStreamStore> {
  const admin = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(admin);
  return {
    fresh: () => freshStream(jsm),
    messages: () => streamMessages(jsm),
    waitAllAcked: (count, timeoutMs) => waitAllAcked(jsm, count, timeoutMs),
    remove: () => deleteStream(jsm),
    close: () => admin.close(),
  };
}
