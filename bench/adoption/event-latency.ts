/**
 * The events process: on the runtime under test, an actor subscribed to EchoRequest events
 * (`serveActor` with `onEvent`, every option Troupe's default) handles what a publisher on a
 * connection of its own publishes with `publishEvent`, at a steady `--rate` per second: an open
 * loop, paced by the clock, that never waits for acknowledgements before publishing the next
 * event. Each event carries its sequence number in its payload; its latency runs from the time
 * it was scheduled to be published (so a publisher falling behind counts against it) until its
 * handler runs. Both ends live in this one process, on separate connections, so both read one
 * clock. The events of the first `--warmup-seconds` are not counted. It also times each
 * publish's acknowledgement by the stream, from the same scheduled time, to tell the publishing
 * half of the latency from the delivering half, and the CPU time the process spent per event
 * (publishing and handling both). Writes one "events" line.
 *
 *   <runtime> bench/adoption/event-latency.ts --nats-url nats://127.0.0.1:4333 --rate 5000 \
 *     --seconds 5 --warmup-seconds 1
 */
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, defineActor, onEvent, publishEvent, serveActor, silentLogger } from "troupe";
import { EchoRequestSchema } from "../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { deleteStream, freshStream, KEYS } from "../events/bench-stream.ts";
import { writeChildLine } from "../shared/child-line.ts";
import { echoRequestOfSize } from "../shared/echo-request.ts";
import { percentile } from "../shared/percentile.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";
import type { EventsLine } from "./child-line.ts";
import { EVENTS_ACTOR } from "./measurements.ts";

/** The encoded EchoRequest's size: the events benchmark's small one. */
const EVENT_BYTES = 100;
/** How long the handlers may take to catch up once the last event is published. */
const CATCH_UP_MS = 30_000;
/** How often the publisher looks at the clock. */
const TICK_MS = 1;

const { values } = parseArgs({
  options: {
    "nats-url": { type: "string" },
    rate: { type: "string", default: "5000" },
    seconds: { type: "string", default: "5" },
    "warmup-seconds": { type: "string", default: "1" },
  },
});
const natsUrl = values["nats-url"];
if (natsUrl === undefined) throw new Error("--nats-url is required");
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmupEvents = Math.round(rate * Number(values["warmup-seconds"]));
const total = warmupEvents + Math.round(rate * seconds);

const admin = await connect({ servers: natsUrl });
await freshStream(await jetstreamManager(admin));

// The subscriber: an actor as a user declares one.
const handledAt = new Float64Array(total);
let handled = 0;
let allHandled: () => void = () => {};
const everyEventHandled = new Promise<void>((resolve) => (allHandled = resolve));
const subscriberNc = await connect({ servers: natsUrl });
const subscriber = await serveActor(
  subscriberNc,
  defineActor({
    name: EVENTS_ACTOR,
    version: "0.0.0",
    description: "Subscriber whose handling of events the adoption benchmark times",
    consumes: { events: [EchoRequestSchema] },
    subscriptions: () => [
      onEvent(EchoRequestSchema, (event) => {
        const seq = new DataView(event.payload.buffer, event.payload.byteOffset).getUint32(0);
        if (seq >= total || handledAt[seq] !== 0) return; // a redelivery: counted once
        handledAt[seq] = performance.now();
        if (++handled === total) allHandled();
      }),
    ],
  }),
  { logger: silentLogger },
);

// The publisher: paced by the clock, never waiting for acks before the next publish.
const publisherNc = await connect({ servers: natsUrl });
const js = jetstream(publisherNc);
const template = echoRequestOfSize(EVENT_BYTES).payload;
const intervalMs = 1000 / rate;
let publishFailures = 0;
const ackedAt = new Float64Array(total);
const acks: Promise<void>[] = [];
const publish = (seq: number) => {
  const payload = template.slice();
  new DataView(payload.buffer).setUint32(0, seq);
  acks.push(
    publishEvent(js, EchoRequestSchema, { payload }, { key: KEYS[seq % KEYS.length] as string }).then(
      () => {
        ackedAt[seq] = performance.now();
      },
      () => {
        publishFailures++;
      },
    ),
  );
};
const cpuBefore = process.cpuUsage();
const start = performance.now() + 10;
const scheduled = (seq: number) => start + seq * intervalMs;
let next = 0;
while (next < total) {
  const now = performance.now();
  while (next < total && scheduled(next) <= now) publish(next++);
  await new Promise((resolve) => setTimeout(resolve, TICK_MS));
}
const publishedAll = performance.now();
await Promise.all(acks);
let timer: ReturnType<typeof setTimeout> | undefined;
await Promise.race([everyEventHandled, new Promise((resolve) => (timer = setTimeout(resolve, CATCH_UP_MS)))]);
clearTimeout(timer);
const cpu = process.cpuUsage(cpuBefore);

const latencies: number[] = [];
for (let seq = warmupEvents; seq < total; seq++) {
  const at = handledAt[seq] as number;
  if (at !== 0) latencies.push(at - scheduled(seq));
}
latencies.sort((a, b) => a - b);
const ackLatencies: number[] = [];
for (let seq = warmupEvents; seq < total; seq++) {
  const at = ackedAt[seq] as number;
  if (at !== 0) ackLatencies.push(at - scheduled(seq));
}
ackLatencies.sort((a, b) => a - b);
const measured = total - warmupEvents;
const line: EventsLine = {
  kind: "events",
  runtime: runtimeLabel(),
  rate,
  seconds,
  measured,
  handled: latencies.length,
  publishFailures,
  achievedRate: measured / ((publishedAll - scheduled(warmupEvents)) / 1000),
  p50Ms: percentile(latencies, 50),
  p99Ms: percentile(latencies, 99),
  maxMs: latencies.at(-1) ?? Number.NaN,
  ackP50Ms: percentile(ackLatencies, 50),
  ackP99Ms: percentile(ackLatencies, 99),
  cpuUsPerEvent: (cpu.user + cpu.system) / total,
};

await subscriber.drain(1_000);
await subscriberNc.close();
await publisherNc.close();
await deleteStream(await jetstreamManager(admin));
await admin.close();
writeChildLine(line);
