/**
 * `troupe streams`: the JetStream streams of Troupe (EVT_*, JOB_*, DLQ of the namespace; all of
 * the account's with `--all`) with their messages, bytes, subjects and replicas, as a table or
 * JSON. The same numbers `nats stream info` shows, from the same API (STREAM.INFO).
 */
import { jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { deadLetterStreamName } from "../../protocol/subjects.ts";
import { parseFlags, UsageError } from "../command.ts";
import {
  NATS_FLAGS,
  NATS_FLAGS_USAGE,
  natsTargetOf,
  processIo,
  type TrafficCommand,
  withNats,
} from "../traffic/nats-target.ts";
import { formatBytes, formatTable } from "../traffic/table.ts";

export const streamsUsage = `Usage: troupe streams [options]

Lists Troupe's JetStream streams (events EVT_*, work queues JOB_*, dead letters DLQ of the
namespace): messages, bytes, subjects, replicas, consumers.

Options:
  --all                every stream of the account (KV buckets and others too)
${NATS_FLAGS_USAGE}
`;

export interface StreamRow {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly retention: string;
  readonly messages: number;
  readonly bytes: number;
  readonly replicas: number;
  readonly consumers: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly lastTime: string | undefined;
}

/** True for the streams Troupe declares in `namespace`. */
export function isTroupeStream(name: string, namespace: string): boolean {
  const prefix = namespace === "" ? "" : `${namespace.replaceAll(".", "_")}_`;
  return (
    name === deadLetterStreamName(namespace) ||
    name.startsWith(`${prefix}EVT_`) ||
    name.startsWith(`${prefix}JOB_`)
  );
}

export function streamRowOf(info: StreamInfo): StreamRow {
  const { config, state } = info;
  return {
    name: config.name,
    subjects: config.subjects ?? [],
    retention: config.retention,
    messages: state.messages,
    bytes: state.bytes,
    replicas: config.num_replicas,
    consumers: state.consumer_count,
    firstSeq: state.first_seq,
    lastSeq: state.last_seq,
    lastTime: state.last_ts === "0001-01-01T00:00:00Z" ? undefined : state.last_ts,
  };
}

export function formatStreams(rows: readonly StreamRow[]): string[] {
  if (rows.length === 0) return ["no streams"];
  return formatTable(
    ["STREAM", "MESSAGES", "BYTES", "REPLICAS", "CONSUMERS", "RETENTION", "SUBJECTS"],
    rows.map((r) => [
      r.name,
      String(r.messages),
      formatBytes(r.bytes),
      String(r.replicas),
      String(r.consumers),
      r.retention,
      r.subjects.join(", "),
    ]),
  );
}

export const streamsCommand: TrafficCommand = {
  name: "streams",
  summary: "list the JetStream streams: messages, bytes, subjects, replicas",
  usage: streamsUsage,
  async run(args, io = processIo()) {
    const { values, positionals } = parseFlags(args, FLAGS);
    if (values.help === true) {
      io.out(streamsUsage);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`no arguments, got ${positionals.join(" ")}`);
    const target = natsTargetOf(values);
    return withNats("streams", target, io, async (nc) => {
      const jsm = await jetstreamManager(nc);
      const rows: StreamRow[] = [];
      for await (const info of jsm.streams.list()) {
        if (values.all === true || isTroupeStream(info.config.name, target.namespace))
          rows.push(streamRowOf(info));
      }
      rows.sort((a, b) => a.name.localeCompare(b.name));
      if (target.json) io.out(JSON.stringify(rows, null, 2));
      else for (const line of formatStreams(rows)) io.out(line);
      return 0;
    });
  },
};

const FLAGS = { ...NATS_FLAGS, all: { type: "boolean" } } as const;
