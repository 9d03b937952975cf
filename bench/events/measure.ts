/**
 * The measuring process: one peer, one payload size, on the runtime under test. On a fresh
 * stream (or queue: the peer's store) each time it
 *   1. publishes with `--in-flight` publishes outstanding (a closed loop: each worker publishes
 *      again as soon as its last publish is acknowledged) → publishes/s in the `--seconds`
 *      window after `--warmup-seconds`;
 *   2. pre-fills the stream with `--messages` events (same publisher, not timed), then consumes
 *      them all with a no-op handler, acknowledging each → events consumed and acknowledged per
 *      second, from the end of the first tenth (the warm-up) until the server holds every ack;
 * and writes one "result" line for the driver.
 *
 *   <runtime> bench/events/measure.ts --peer raw --nats-url nats://127.0.0.1:4333 --size 100 \
 *     --in-flight 256 --seconds 5 --warmup-seconds 1 --messages 200000
 */

import { parseArgs } from "node:util";
import { writeChildLine } from "../shared/child-line.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";
import { runConcurrent } from "../shared/workloads.ts";
import type { EventsResult, ResultLine } from "./child-line.ts";
import type { EventsPeer, PublishEvent } from "./events-peer.ts";
import { isPeerName, PEERS } from "./peers.ts";

/** How long the server may take to show every ack once the handler has seen every event. */
const ACKS_TIMEOUT_MS = 30_000;

const { values } = parseArgs({
  options: {
    peer: { type: "string" },
    "nats-url": { type: "string" },
    size: { type: "string", default: "100" },
    "in-flight": { type: "string", default: "256" },
    seconds: { type: "string", default: "5" },
    "warmup-seconds": { type: "string", default: "1" },
    messages: { type: "string", default: "200000" },
  },
});
const { peer: peerName, "nats-url": natsUrl } = values;
if (peerName === undefined || !isPeerName(peerName)) {
  throw new Error(`--peer must be one of ${Object.keys(PEERS)}`);
}
if (natsUrl === undefined) throw new Error("--nats-url is required");
const sizeBytes = Number(values.size);
const inFlight = Number(values["in-flight"]);
const messages = Number(values.messages);

const peer = await (await PEERS[peerName].load())(natsUrl);
const { store } = peer;
const publish = peer.publisher(sizeBytes);

// 1. Publish.
await store.fresh();
let next = 0;
const published = await runConcurrent(
  () => publish(next++),
  inFlight,
  Number(values["warmup-seconds"]),
  Number(values.seconds),
);

// 2. Pre-fill, then consume.
await store.fresh();
await fill(publish, messages, inFlight);
const stored = await store.messages();
if (stored !== messages) throw new Error(`pre-filled ${messages} events, the store holds ${stored}`);
const consumed = await consumeAll(peer, messages);
await store.remove();

await peer.close();
const result: EventsResult = {
  sizeBytes,
  inFlight,
  published: published.calls,
  publishSeconds: Number(values.seconds),
  publishesPerSecond: published.callsPerSecond,
  consumed: messages,
  consumeWarmup: consumed.warmup,
  consumeSeconds: consumed.seconds,
  consumedPerSecond: (messages - consumed.warmup) / consumed.seconds,
};
writeChildLine({ kind: "result", runtime: runtimeLabel(), result } satisfies ResultLine);
process.exit(0);

/** Publishes `count` events, `inFlight` at a time. */
async function fill(publish: PublishEvent, count: number, inFlight: number): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < count) await publish(started++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
}

/**
 * Consumes the `count` events in the stream; the time runs from the handler's last warm-up
 * event (the first tenth) until the server holds every ack.
 */
async function consumeAll(peer: EventsPeer, count: number): Promise<{ warmup: number; seconds: number }> {
  const warmup = Math.floor(count / 10);
  let handled = 0;
  let warmedUp = performance.now();
  let allHandled: () => void = () => {};
  const done = new Promise<void>((resolve) => (allHandled = resolve));
  const running = await peer.consume(sizeBytes, () => {
    handled++;
    if (handled === warmup) warmedUp = performance.now();
    else if (handled === count) allHandled();
  });
  try {
    await Promise.race([
      done,
      running.ended.then(() => {
        throw new Error(`the consume loop ended after ${handled} of ${count} events`);
      }),
    ]);
    await peer.store.waitAllAcked(count, ACKS_TIMEOUT_MS);
    const seconds = (performance.now() - warmedUp) / 1000;
    if (handled !== count) throw new Error(`handled ${handled} events, ${count} were published`);
    return { warmup, seconds };
  } finally {
    await running.stop();
  }
}
