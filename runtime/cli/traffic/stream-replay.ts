/**
 * `troupe tail --since`: the Troupe streams that hold a subject pattern, read from a point in
 * time and then followed. An event or dead-letter stream (limits retention) gets an ordered
 * consumer (an ephemeral consumer the client recreates on a gap, NATS ADR-17) from that time on,
 * which goes on delivering what the stream stores next. A job stream is a work queue, where
 * JetStream allows no second consumer of the same subjects and keeps only the jobs not yet
 * done: its waiting jobs stored since then are read by sequence, then new jobs are seen as they
 * are published (a core subscription, started before the read; a job seen in both is shown once).
 */

import {
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  type StreamInfo,
} from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { Header } from "../../protocol/headers.ts";
import { deadLetterStreamName, namespacePrefix } from "../../protocol/subjects.ts";
import { CommandError } from "../command-errors.ts";
import { isSubsetOf, overlaps } from "./subject-pattern.ts";
import type { SeenMessage } from "./traffic-record.ts";

/** A running replay; `stop` ends every reader. */
export interface Replay {
  readonly streams: readonly string[];
  stop(): Promise<void>;
}

/** The Troupe streams (EVT_*, JOB_*, DLQ of the namespace) whose subjects overlap `pattern`. */
export async function troupeStreamsOf(
  jsm: JetStreamManager,
  pattern: string,
  namespace: string,
): Promise<StreamInfo[]> {
  const prefix = namespace === "" ? "" : `${namespace.replaceAll(".", "_")}_`;
  const dlq = deadLetterStreamName(namespace);
  const found: StreamInfo[] = [];
  for await (const info of jsm.streams.list(pattern)) {
    const name = info.config.name;
    const troupe = name === dlq || name.startsWith(`${prefix}EVT_`) || name.startsWith(`${prefix}JOB_`);
    if (troupe && info.config.subjects.some((s) => overlaps(s, pattern))) found.push(info);
  }
  return found.sort((a, b) => a.config.name.localeCompare(b.config.name));
}

/**
 * Replays every Troupe stream holding `pattern` from `since`, then follows them, handing each
 * message to `emit` (per stream in order). Fails when no Troupe stream holds the pattern.
 */
export async function replayStreams(
  nc: NatsConnection,
  pattern: string,
  namespace: string,
  since: Date,
  emit: (message: SeenMessage) => void,
): Promise<Replay> {
  namespacePrefix(namespace);
  const jsm = await jetstreamManager(nc);
  const streams = await troupeStreamsOf(jsm, pattern, namespace);
  if (streams.length === 0) {
    throw new CommandError(
      `no Troupe stream holds ${pattern}: --since replays the event, job and dead-letter streams ` +
        "(EVT_*, JOB_*, DLQ); RPC calls are not stored, tail them without --since",
    );
  }
  const stops: (() => Promise<void>)[] = [];
  try {
    for (const info of streams) {
      const filters = filtersOf(info.config.subjects, pattern);
      stops.push(
        info.config.retention === RetentionPolicy.Workqueue
          ? await replayWorkQueue(nc, jsm, info, filters, since, emit)
          : await replayOrdered(nc, info.config.name, filters, since, emit),
      );
    }
  } catch (err) {
    await Promise.all(stops.map((stop) => stop()));
    throw err;
  }
  return {
    streams: streams.map((s) => s.config.name),
    stop: async () => {
      await Promise.all(stops.map((stop) => stop()));
    },
  };
}

/** The consumer filters for `pattern` within a stream's subjects: the narrower of each overlap. */
function filtersOf(subjects: readonly string[], pattern: string): string[] {
  const filters = subjects.flatMap((subject) => {
    if (isSubsetOf(subject, pattern)) return [subject];
    if (overlaps(subject, pattern)) return [pattern];
    return [];
  });
  return [...new Set(filters)];
}

async function replayOrdered(
  nc: NatsConnection,
  stream: string,
  filters: readonly string[],
  since: Date,
  emit: (message: SeenMessage) => void,
): Promise<() => Promise<void>> {
  const consumer = await jetstream(nc).consumers.get(stream, {
    filter_subjects: [...filters],
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: since.toISOString(),
  });
  const messages = await consumer.consume();
  const done = (async () => {
    for await (const m of messages) {
      emit({ subject: m.subject, data: m.data, headers: m.headers, time: m.time, stream, seq: m.seq });
    }
  })();
  return async () => {
    await messages.close();
    await done.catch(() => {});
  };
}

async function replayWorkQueue(
  nc: NatsConnection,
  jsm: JetStreamManager,
  info: StreamInfo,
  filters: readonly string[],
  since: Date,
  emit: (message: SeenMessage) => void,
): Promise<() => Promise<void>> {
  const stream = info.config.name;
  let held: Msg[] | undefined = [];
  const seen = new Set<string>();
  const live = (msg: Msg) => {
    const id = msg.headers?.get(Header.natsMsgId) ?? "";
    if (id !== "" && seen.has(id)) return;
    emit({ subject: msg.subject, data: msg.data, headers: msg.headers, time: new Date() });
  };
  const subs: Subscription[] = filters.map((filter) =>
    nc.subscribe(filter, {
      callback: (err, msg) => {
        if (err !== null) return;
        if (held === undefined) live(msg);
        else held.push(msg);
      },
    }),
  );
  await nc.flush();
  // The jobs stored up to now: those still waiting (a work queue removes what was done).
  const { first_seq: first, last_seq: last } = (await jsm.streams.info(stream)).state;
  for (let seq = Math.max(1, first); seq <= last && first > 0; seq++) {
    const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (stored === null || stored.time < since) continue;
    if (!filters.some((f) => isSubsetOf(stored.subject, f))) continue;
    const id = stored.header?.get(Header.natsMsgId) ?? "";
    if (id !== "") seen.add(id);
    emit({
      subject: stored.subject,
      data: stored.data,
      headers: stored.header,
      time: stored.time,
      stream,
      seq,
    });
  }
  const waiting = held;
  held = undefined;
  for (const msg of waiting) live(msg);
  return async () => {
    for (const sub of subs) sub.unsubscribe();
  };
}
