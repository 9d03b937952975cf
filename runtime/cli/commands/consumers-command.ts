/**
 * `troupe consumers [stream]`: the durable consumers of Troupe's streams (or of one stream) with
 * what they have left: pending (stored, not yet delivered), ack pending (delivered, not yet
 * acknowledged), redelivered, and the lag (pending + ack pending: what the consumer has not
 * finished). The same numbers `nats consumer info` shows, from CONSUMER.INFO.
 */

import { type ConsumerInfo, jetstreamManager } from "@nats-io/jetstream";
import { isStreamNotFound } from "../../jetstream/jetstream-errors.ts";
import { parseFlags, UsageError } from "../command.ts";
import { CommandError } from "../command-errors.ts";
import {
  NATS_FLAGS,
  NATS_FLAGS_USAGE,
  natsTargetOf,
  processIo,
  type TrafficCommand,
  withNats,
} from "../traffic/nats-target.ts";
import { formatTable } from "../traffic/table.ts";
import { isTroupeStream } from "./streams-command.ts";

export const consumersUsage = `Usage: troupe consumers [stream] [options]

Lists the consumers of Troupe's streams (or of one stream): messages pending delivery, waiting
for an ack, redelivered, and the lag (pending + ack pending).

Options:
${NATS_FLAGS_USAGE}
`;

export interface ConsumerRow {
  readonly stream: string;
  readonly name: string;
  readonly filter: string;
  readonly pending: number;
  readonly ackPending: number;
  readonly redelivered: number;
  readonly waiting: number;
  readonly lag: number;
  readonly delivered: number;
  readonly acknowledged: number;
}

export function consumerRowOf(info: ConsumerInfo): ConsumerRow {
  const filters =
    info.config.filter_subjects ?? (info.config.filter_subject ? [info.config.filter_subject] : []);
  return {
    stream: info.stream_name,
    name: info.name,
    filter: filters.join(", "),
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    waiting: info.num_waiting,
    lag: info.num_pending + info.num_ack_pending,
    delivered: info.delivered.stream_seq,
    acknowledged: info.ack_floor.stream_seq,
  };
}

export function formatConsumers(rows: readonly ConsumerRow[]): string[] {
  if (rows.length === 0) return ["no consumers"];
  return formatTable(
    ["STREAM", "CONSUMER", "PENDING", "ACK PENDING", "REDELIVERED", "LAG", "FILTER"],
    rows.map((r) => [
      r.stream,
      r.name,
      String(r.pending),
      String(r.ackPending),
      String(r.redelivered),
      String(r.lag),
      r.filter,
    ]),
  );
}

export const consumersCommand: TrafficCommand = {
  name: "consumers",
  summary: "list the consumers of the streams: pending, ack pending, redelivered, lag",
  usage: consumersUsage,
  async run(args, io = processIo()) {
    const { values, positionals } = parseFlags(args, NATS_FLAGS);
    if (values.help === true) {
      io.out(consumersUsage);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError(`one stream at most, got ${positionals.join(" ")}`);
    const only = positionals[0];
    const target = natsTargetOf(values);
    return withNats("consumers", target, io, async (nc) => {
      const jsm = await jetstreamManager(nc);
      const streams: string[] = [];
      if (only !== undefined) {
        try {
          await jsm.streams.info(only);
        } catch (err) {
          if (!isStreamNotFound(err)) throw err;
          throw new CommandError(`there is no stream ${only} (troupe streams lists them)`);
        }
        streams.push(only);
      } else {
        for await (const name of jsm.streams.names())
          if (isTroupeStream(name, target.namespace)) streams.push(name);
      }
      const rows: ConsumerRow[] = [];
      for (const stream of streams.sort()) {
        for await (const info of jsm.consumers.list(stream)) rows.push(consumerRowOf(info));
      }
      rows.sort((a, b) => a.stream.localeCompare(b.stream) || a.name.localeCompare(b.name));
      if (target.json) io.out(JSON.stringify(rows, null, 2));
      else for (const line of formatConsumers(rows)) io.out(line);
      return 0;
    });
  },
};
