/**
 * What the dashboard shows, read from NATS as the CLI reads it: services from `$SRV.INFO` and
 * `$SRV.STATS` (NATS ADR-32; docs/adr/0005-discovery-with-srv.md), per endpoint the requests,
 * errors and p50/p95/p99 of Troupe's latency histograms (docs/adr/0014-tracing-and-metrics.md),
 * per consumer the counts instances report under `consumers` (docs/adr/0025-metrics-for-every-part.md);
 * streams and consumers from the JetStream API; dead letters through runtime/jetstream/dead-letters.ts.
 * Every view is plain JSON: the HTML pages and the `/api/*` routes show the same objects.
 */
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { serviceInfos, serviceStats } from "../../discovery/discover.ts";
import { ServiceMetadata } from "../../discovery/metadata-keys.ts";
import type { StatsResponse } from "../../discovery/service-responses.ts";
import { type DeadLetter, listDeadLetters } from "../../jetstream/dead-letters.ts";
import { isStreamNotFound } from "../../jetstream/jetstream-errors.ts";
import { quantileOf } from "../../observability/latency-histogram.ts";
import { deadLetterStreamName } from "../../protocol/subjects.ts";
import { type ConsumerRow, consumerRowOf } from "../commands/consumers-command.ts";
import { isTroupeStream, type StreamRow, streamRowOf } from "../commands/streams-command.ts";

type Buckets = readonly (readonly [number | "+Inf", number])[];

/** Latency quantiles in milliseconds, estimated from summed histogram buckets. */
export interface Quantiles {
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
}

export interface InstanceView {
  readonly id: string;
  readonly version: string;
  readonly runtime: string;
  readonly host: string;
  readonly started: string;
}

/** One endpoint, its numbers summed over the instances that answered STATS. */
export interface EndpointView extends Quantiles {
  readonly name: string;
  readonly subject: string;
  readonly requests: number;
  readonly errors: number;
  readonly inFlight: number;
  readonly lastError: string;
}

/** One consumer of the service, its numbers summed over instances (lag: the latest reading). */
export interface ServiceConsumerView extends Quantiles {
  readonly stream: string;
  readonly consumer: string;
  readonly kind: string;
  readonly handled: number;
  readonly failed: number;
  readonly deadLettered: number;
  readonly inFlight: number;
  readonly pending: number | undefined;
  readonly ackPending: number | undefined;
}

export interface ServiceView {
  readonly name: string;
  readonly description: string;
  /** Every version its instances run, ascending. */
  readonly versions: readonly string[];
  readonly instances: readonly InstanceView[];
  readonly endpoints: readonly EndpointView[];
  readonly consumers: readonly ServiceConsumerView[];
}

export interface DiscoveryTimings {
  readonly timeoutMs: number;
  readonly stallMs: number;
}

/** Every service answering `$SRV.INFO` with its STATS, by name. */
export async function servicesView(
  nc: NatsConnection,
  timings: DiscoveryTimings = { timeoutMs: 1_000, stallMs: 200 },
): Promise<ServiceView[]> {
  const [infos, stats] = await Promise.all([serviceInfos(nc, timings), serviceStats(nc, timings)]);
  const names = [...new Set([...infos, ...stats].map((r) => r.name))].sort();
  return names.map((name) => {
    const ofName = infos.filter((i) => i.name === name);
    const statsOf = stats.filter((s) => s.name === name);
    const instances = new Map<string, InstanceView>();
    for (const r of [...ofName, ...statsOf]) {
      const started = "started" in r ? r.started : (instances.get(r.id)?.started ?? "");
      instances.set(r.id, {
        id: r.id,
        version: r.version,
        runtime: r.metadata[ServiceMetadata.runtime] ?? "",
        host: r.metadata[ServiceMetadata.host] ?? "",
        started,
      });
    }
    return {
      name,
      description: ofName[0]?.description ?? "",
      versions: [...new Set([...instances.values()].map((i) => i.version))].sort(),
      instances: [...instances.values()].sort((a, b) => a.id.localeCompare(b.id)),
      endpoints: endpointsOf(statsOf),
      consumers: consumersOf(statsOf),
    };
  });
}

function endpointsOf(stats: readonly StatsResponse[]): EndpointView[] {
  const byName = new Map<string, { view: Omit<EndpointView, keyof Quantiles>; buckets: Buckets[] }>();
  for (const instance of stats) {
    for (const e of instance.endpoints) {
      const data = recordOf(e.data);
      const seen = byName.get(e.name);
      const view = {
        name: e.name,
        subject: e.subject,
        requests: (seen?.view.requests ?? 0) + e.num_requests,
        errors: (seen?.view.errors ?? 0) + e.num_errors,
        inFlight: (seen?.view.inFlight ?? 0) + numberOf(data?.in_flight),
        lastError: e.last_error !== "" ? e.last_error : (seen?.view.lastError ?? ""),
      };
      byName.set(e.name, { view, buckets: [...(seen?.buckets ?? []), ...bucketsOf(data?.latency)] });
    }
  }
  return [...byName.values()]
    .map(({ view, buckets }) => ({ ...view, ...quantiles(buckets) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function consumersOf(stats: readonly StatsResponse[]): ServiceConsumerView[] {
  const byKey = new Map<string, { view: Omit<ServiceConsumerView, keyof Quantiles>; buckets: Buckets[] }>();
  for (const instance of stats) {
    const list = recordOf(instance.data)?.consumers;
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      const c = recordOf(item);
      if (c === undefined || typeof c.stream !== "string" || typeof c.consumer !== "string") continue;
      const key = `${c.stream}/${c.consumer}`;
      const seen = byKey.get(key);
      const lag = recordOf(c.lag);
      const view = {
        stream: c.stream,
        consumer: c.consumer,
        kind: typeof c.kind === "string" ? c.kind : "",
        handled: (seen?.view.handled ?? 0) + numberOf(c.handled),
        failed: (seen?.view.failed ?? 0) + numberOf(c.failed),
        deadLettered: (seen?.view.deadLettered ?? 0) + numberOf(c.dead_lettered),
        inFlight: (seen?.view.inFlight ?? 0) + numberOf(c.in_flight),
        // The lag is the consumer's, the same for every instance: any reading will do.
        pending: lag === undefined ? seen?.view.pending : numberOf(lag.pending),
        ackPending: lag === undefined ? seen?.view.ackPending : numberOf(lag.ack_pending),
      };
      byKey.set(key, { view, buckets: [...(seen?.buckets ?? []), ...bucketsOf(c.latency)] });
    }
  }
  return [...byKey.values()]
    .map(({ view, buckets }) => ({ ...view, ...quantiles(buckets) }))
    .sort((a, b) => a.stream.localeCompare(b.stream) || a.consumer.localeCompare(b.consumer));
}

/**
 * p50/p95/p99 of histograms summed bucket by bucket: every instance uses the same bounds
 * (LATENCY_BUCKETS_SECONDS), so the sum is the histogram of all their observations.
 */
export function quantiles(histograms: readonly Buckets[]): Quantiles {
  const summed = new Map<number | "+Inf", number>();
  for (const buckets of histograms) {
    for (const [bound, count] of buckets) summed.set(bound, (summed.get(bound) ?? 0) + count);
  }
  const buckets = [...summed].sort(([a], [b]) => (a === "+Inf" ? 1 : b === "+Inf" ? -1 : a - b));
  return {
    p50Ms: quantileOf(0.5, buckets) * 1_000,
    p95Ms: quantileOf(0.95, buckets) * 1_000,
    p99Ms: quantileOf(0.99, buckets) * 1_000,
  };
}

function bucketsOf(latency: unknown): Buckets[] {
  const buckets = recordOf(latency)?.buckets;
  if (!Array.isArray(buckets)) return [];
  const valid = buckets.filter(
    (b): b is [number | "+Inf", number] =>
      Array.isArray(b) && (typeof b[0] === "number" || b[0] === "+Inf") && typeof b[1] === "number",
  );
  return valid.length === buckets.length ? [valid] : [];
}

function recordOf(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function numberOf(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

export interface StreamsView {
  readonly streams: readonly StreamRow[];
  readonly consumers: readonly ConsumerRow[];
}

/** Troupe's streams of `namespace` and their consumers (STREAM.INFO, CONSUMER.INFO). */
export async function streamsView(nc: NatsConnection, namespace: string): Promise<StreamsView> {
  const jsm = await jetstreamManager(nc);
  const streams: StreamRow[] = [];
  const consumers: ConsumerRow[] = [];
  for await (const info of jsm.streams.list()) {
    if (!isTroupeStream(info.config.name, namespace)) continue;
    streams.push(streamRowOf(info));
    for await (const consumer of jsm.consumers.list(info.config.name))
      consumers.push(consumerRowOf(consumer));
  }
  streams.sort((a, b) => a.name.localeCompare(b.name));
  consumers.sort((a, b) => a.stream.localeCompare(b.stream) || a.name.localeCompare(b.name));
  return { streams, consumers };
}

/** A dead letter as the dashboard lists it (the fields of `troupe dlq ls --json`). */
export interface DeadLetterView {
  readonly seq: number;
  readonly deadAt: string;
  readonly subject: string;
  readonly stream: string;
  readonly streamSeq: number;
  readonly consumer: string;
  readonly id: string;
  readonly code: string;
  readonly error: string;
  readonly deliveryCount: number;
  readonly publishedAt: string;
}

export function deadLetterView(letter: DeadLetter): DeadLetterView {
  return {
    seq: letter.deadLetterSeq,
    deadAt: letter.deadAt.toISOString(),
    subject: letter.subject,
    stream: letter.stream,
    streamSeq: letter.seq,
    consumer: letter.consumer,
    id: letter.id,
    code: codeToString(letter.code),
    error: letter.error,
    deliveryCount: letter.deliveryCount,
    publishedAt: letter.publishedAt.toISOString(),
  };
}

/** The oldest `limit` dead letters of `namespace`; none when no DLQ stream exists yet. */
export async function deadLettersView(
  nc: NatsConnection,
  namespace: string,
  limit: number,
): Promise<DeadLetterView[]> {
  const jsm = await jetstreamManager(nc);
  try {
    // Direct gets of a stream that does not exist go unanswered: ask for the stream first.
    await jsm.streams.info(deadLetterStreamName(namespace));
  } catch (err) {
    if (isStreamNotFound(err)) return [];
    throw err;
  }
  return (await listDeadLetters(jsm, { namespace, limit })).map(deadLetterView);
}

/** The dead letter with sequence `seq`, or undefined when there is none. */
export async function deadLetterAt(
  nc: NatsConnection,
  namespace: string,
  seq: number,
): Promise<DeadLetter | undefined> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(deadLetterStreamName(namespace));
  } catch (err) {
    if (isStreamNotFound(err)) return undefined;
    throw err;
  }
  const [letter] = await listDeadLetters(jsm, { namespace, fromSeq: seq, limit: 1 });
  return letter?.deadLetterSeq === seq ? letter : undefined;
}
