/**
 * `troupe dlq ls | show <seq> | redrive <seq…|--all> | purge`: the dead-letter stream
 * (docs/adr/0007-events-queues-and-dead-letters.md) through the library's own operations
 * (runtime/jetstream/dead-letters.ts); `show` decodes the original message with the contracts the
 * running services publish (docs/adr/0022-contract-descriptors.md).
 */

import { codeToString } from "@connectrpc/connect/protocol-connect";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createTrafficDecoder } from "../../inspect/traffic-decoder.ts";
import { type DeadLetter, listDeadLetters, redriveDeadLetter } from "../../jetstream/dead-letters.ts";
import { isStreamNotFound } from "../../jetstream/jetstream-errors.ts";
import { deadLetterStreamName, deadLetterSubjectFilter } from "../../protocol/subjects.ts";
import { parseFlags, UsageError } from "../command.ts";
import { CommandError } from "../command-errors.ts";
import {
  type CommandIo,
  NATS_FLAGS,
  NATS_FLAGS_USAGE,
  type NatsTarget,
  natsTargetOf,
  processIo,
  type TrafficCommand,
  withNats,
} from "../traffic/nats-target.ts";
import { formatTable } from "../traffic/table.ts";
import { recordOf } from "../traffic/traffic-record.ts";

export const dlqUsage = `Usage: troupe dlq <ls | show <seq> | redrive <seq…> | redrive --all | purge> [options]

The dead letters: messages a consumer gave up on (a handler error after its last attempt, a
deadline passed, a message it could not decode), in the DLQ stream.

  ls                   list them, oldest first: sequence, when, original subject, consumer, why
  show <seq>           one, with its original message decoded and its headers
  redrive <seq…>       publish each to its original subject again (its own id kept), then delete it
  redrive --all        redrive every one (of --stream/--consumer)
  purge --yes          delete every one (of --stream/--consumer)

Options:
  --stream <name>      only dead letters of this stream (EVT_shop_v1, JOB_shop_v1_FulfilOrder)
  --consumer <name>    only dead letters of this consumer (email_UserRegistered)
  --limit <n>          ls: at most n (default 100)
  --drop-deadline      redrive: without the original troupe-deadline (one that has passed)
  --yes                purge: yes, delete them
${NATS_FLAGS_USAGE}
`;

export const dlqCommand: TrafficCommand = {
  name: "dlq",
  summary: "dead letters: ls, show <seq>, redrive <seq|--all>, purge",
  usage: dlqUsage,
  async run(args, io = processIo()) {
    const { values, positionals } = parseFlags(args, FLAGS);
    if (values.help === true) {
      io.out(dlqUsage);
      return 0;
    }
    const [verb, ...rest] = positionals;
    const target = natsTargetOf(values);
    const filter = { stream: values.stream, consumer: values.consumer };
    try {
      deadLetterSubjectFilter(filter.stream, filter.consumer, target.namespace);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    switch (verb) {
      case "ls": {
        none(rest);
        const limit = values.limit === undefined ? 100 : Number(values.limit);
        if (!(Number.isInteger(limit) && limit > 0)) {
          throw new UsageError(`--limit must be a positive whole number, got "${values.limit}"`);
        }
        return withNats("dlq", target, io, (nc) => list(nc, target, filter, limit, io));
      }
      case "show": {
        const [seq] = sequences(rest, 1);
        return withNats("dlq", target, io, (nc) => show(nc, target, seq ?? 0, io));
      }
      case "redrive": {
        const seqs = values.all === true ? [] : sequences(rest, Number.POSITIVE_INFINITY);
        if (values.all === true && rest.length > 0)
          throw new UsageError("redrive takes sequences or --all, not both");
        const dropDeadline = values["drop-deadline"] === true;
        return withNats("dlq", target, io, (nc) =>
          redrive(nc, target, values.all === true ? filter : seqs, dropDeadline, io),
        );
      }
      case "purge": {
        none(rest);
        if (values.yes !== true) throw new UsageError("purge deletes dead letters for good; add --yes");
        return withNats("dlq", target, io, (nc) => purge(nc, target, filter, io));
      }
      case undefined:
        throw new UsageError("a subcommand is needed: ls, show, redrive or purge");
      default:
        throw new UsageError(`unknown subcommand "${verb}": ls, show, redrive or purge`);
    }
  },
};

interface Filter {
  readonly stream: string | undefined;
  readonly consumer: string | undefined;
}

function none(rest: readonly string[]) {
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
}

function sequences(rest: readonly string[], max: number): number[] {
  if (rest.length === 0) throw new UsageError("a dead-letter sequence is needed (troupe dlq ls shows them)");
  if (rest.length > max) throw new UsageError(`one sequence, got ${rest.join(" ")}`);
  return rest.map((text) => {
    if (!/^\d+$/.test(text) || Number(text) < 1)
      throw new UsageError(`"${text}" is not a dead-letter sequence`);
    return Number(text);
  });
}

/** A dead letter as `ls --json` prints it. */
export function deadLetterJson(letter: DeadLetter) {
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

async function all(
  nc: NatsConnection,
  target: NatsTarget,
  filter: Filter,
  limit: number,
): Promise<DeadLetter[]> {
  const jsm = await jetstreamManager(nc);
  const found: DeadLetter[] = [];
  try {
    // Direct gets of a stream that does not exist go unanswered: ask for the stream first.
    await jsm.streams.info(deadLetterStreamName(target.namespace));
    for (let fromSeq = 1; found.length < limit; ) {
      const page = await listDeadLetters(jsm, {
        namespace: target.namespace,
        ...filter,
        fromSeq,
        limit: Math.min(100, limit - found.length),
      });
      found.push(...page);
      const last = page[page.length - 1];
      if (last === undefined || page.length < Math.min(100, limit)) break;
      fromSeq = last.deadLetterSeq + 1;
    }
  } catch (err) {
    if (isStreamNotFound(err)) return []; // no consumer declared one yet: nothing dead-lettered
    throw err;
  }
  return found;
}

async function list(nc: NatsConnection, target: NatsTarget, filter: Filter, limit: number, io: CommandIo) {
  const letters = (await all(nc, target, filter, limit)).map(deadLetterJson);
  if (target.json) {
    io.out(JSON.stringify(letters, null, 2));
    return 0;
  }
  if (letters.length === 0) {
    io.out("no dead letters");
    return 0;
  }
  const rows = letters.map((l) => [
    String(l.seq),
    l.deadAt.slice(0, 19).replace("T", " "),
    l.subject,
    l.consumer,
    l.code,
    String(l.deliveryCount),
    l.error.length > 60 ? `${l.error.slice(0, 59)}…` : l.error,
  ]);
  for (const line of formatTable(
    ["SEQ", "DEAD AT", "SUBJECT", "CONSUMER", "CODE", "DELIVERIES", "ERROR"],
    rows,
  )) {
    io.out(line);
  }
  return 0;
}

async function show(nc: NatsConnection, target: NatsTarget, seq: number, io: CommandIo) {
  const jsm = await jetstreamManager(nc);
  const stream = deadLetterStreamName(target.namespace);
  const stored = await jsm.streams.getMessage(stream, { seq }).catch((err: unknown) => {
    if (isStreamNotFound(err)) return null;
    if (err instanceof Error && /no message found/i.test(err.message)) return null;
    throw err;
  });
  if (stored === null)
    throw new CommandError(`${stream} has no dead letter ${seq} (troupe dlq ls lists them)`);
  const [letter] = await listDeadLetters(jsm, { namespace: target.namespace, fromSeq: seq, limit: 1 });
  if (letter === undefined || letter.deadLetterSeq !== seq) {
    throw new CommandError(`${stream} message ${seq} is not a dead letter`);
  }
  const decoder = createTrafficDecoder(nc, { namespace: target.namespace });
  const record = await recordOf(decoder, {
    subject: stored.subject,
    data: stored.data,
    headers: stored.header,
    time: stored.time,
    stream,
    seq,
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of letter.headers) headers[name] = value;
  const shown = {
    ...deadLetterJson(letter),
    type: record.type,
    headers,
    body: record.body,
    ...(record.error === undefined ? {} : { decodeError: record.error }),
  };
  if (target.json) {
    io.out(JSON.stringify(shown, null, 2));
    return 0;
  }
  const fields: [string, string][] = [
    ["dead letter", `${shown.seq} (${shown.deadAt})`],
    ["subject", shown.subject],
    ["type", shown.type ?? "?"],
    ["from", `${shown.stream} seq ${shown.streamSeq}, published ${shown.publishedAt}`],
    ["consumer", shown.consumer],
    [
      "why",
      `${shown.code} after ${shown.deliveryCount} deliver${shown.deliveryCount === 1 ? "y" : "ies"}: ${shown.error}`,
    ],
    ["id", shown.id],
    ...Object.entries(headers).map(([k, v]): [string, string] => [`header ${k}`, v]),
  ];
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [key, value] of fields) io.out(`${key.padEnd(width)}  ${value}`);
  if (record.error !== undefined)
    io.out(`body (not decoded: ${record.error}): ${stored.data.byteLength} bytes`);
  else io.out(`body\n${JSON.stringify(record.body, null, 2)}`);
  return 0;
}

async function redrive(
  nc: NatsConnection,
  target: NatsTarget,
  which: readonly number[] | Filter,
  dropDeadline: boolean,
  io: CommandIo,
) {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const seqs = Array.isArray(which)
    ? which
    : (await all(nc, target, which as Filter, Number.MAX_SAFE_INTEGER)).map((l) => l.deadLetterSeq);
  const results: {
    seq: number;
    subject: string;
    stream: string;
    streamSeq: number;
    id: string;
    duplicate: boolean;
  }[] = [];
  let failed = 0;
  for (const seq of seqs) {
    try {
      const [letter] = await listDeadLetters(jsm, { namespace: target.namespace, fromSeq: seq, limit: 1 });
      const ack = await redriveDeadLetter(js, jsm, seq, { namespace: target.namespace, dropDeadline });
      results.push({
        seq,
        subject: letter !== undefined && letter.deadLetterSeq === seq ? letter.subject : "",
        stream: ack.stream,
        streamSeq: ack.seq,
        id: ack.id,
        duplicate: ack.duplicate,
      });
    } catch (err) {
      failed++;
      io.err(`troupe dlq: redrive ${seq}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (target.json) io.out(JSON.stringify(results, null, 2));
  else if (results.length === 0 && failed === 0) io.out("no dead letters to redrive");
  else {
    const rows = results.map((r) => [String(r.seq), r.subject, r.stream, String(r.streamSeq), r.id]);
    for (const line of formatTable(["SEQ", "TO SUBJECT", "STREAM", "STREAM SEQ", "ID"], rows)) io.out(line);
  }
  return failed === 0 ? 0 : 1;
}

async function purge(nc: NatsConnection, target: NatsTarget, filter: Filter, io: CommandIo) {
  const jsm = await jetstreamManager(nc);
  const stream = deadLetterStreamName(target.namespace);
  const only = filter.stream !== undefined || filter.consumer !== undefined;
  let purged = 0;
  try {
    const subjects = deadLetterSubjectFilter(filter.stream, filter.consumer, target.namespace);
    purged = (await jsm.streams.purge(stream, only ? { filter: subjects } : undefined)).purged;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  io.out(target.json ? JSON.stringify({ purged }) : `purged ${purged} dead letter${purged === 1 ? "" : "s"}`);
  return 0;
}

const FLAGS = {
  ...NATS_FLAGS,
  stream: { type: "string" },
  consumer: { type: "string" },
  limit: { type: "string" },
  all: { type: "boolean" },
  "drop-deadline": { type: "boolean" },
  yes: { type: "boolean" },
} as const;
