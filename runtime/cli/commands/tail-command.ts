/**
 * `troupe tail <subject pattern>`: every Troupe message on the pattern as it passes, decoded to
 * JSON with the contracts the running services publish (docs/adr/0022-contract-descriptors.md),
 * one line each. RPC requests are seen on their subjects; their replies go to the caller's inbox,
 * which tail also watches (`_INBOX.>`) and matches to the requests it saw. `--since` replays the
 * streams that hold the pattern from then and follows them (traffic/stream-replay.ts).
 * docs/guide/inspecting-traffic.md describes it.
 */
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { createTrafficDecoder } from "../../inspect/traffic-decoder.ts";
import { DEFAULT_INBOX_PREFIX, namespacePrefix, parseSubject, RPC_PREFIX } from "../../protocol/subjects.ts";
import { parseFlags, UsageError } from "../command.ts";
import {
  type CommandIo,
  NATS_FLAGS,
  NATS_FLAGS_USAGE,
  natsTargetOf,
  processIo,
  type TrafficCommand,
  withNats,
} from "../traffic/nats-target.ts";
import { parseSince } from "../traffic/since.ts";
import { replayStreams } from "../traffic/stream-replay.ts";
import { assertPattern, overlaps } from "../traffic/subject-pattern.ts";
import { recordJson, recordLine, recordOf, type SeenMessage } from "../traffic/traffic-record.ts";

export const tailUsage = `Usage: troupe tail <subject pattern> [options]

Shows each message on the pattern as it passes, decoded with the contracts the running
services publish: 'evt.>' events, 'job.>' jobs, 'dlq.>' dead letters, 'rpc.>' calls (requests,
and their replies when they go to an _INBOX. inbox). The pattern is under --namespace.
One line per message: time, subject, type, trace id and the body as JSON; --json prints each
as a JSON object (subject, time, kind, type, method, id, traceId, headers, body, error).

Options:
  --since <when>       first replay what the streams hold from then (90s, 15m, 2h, 1d, or a time
                       such as 2026-12-02T10:00:00Z), then follow them (events, jobs, dead letters)
  --count <n>          stop after n messages
  --no-replies         do not watch _INBOX.> for the replies of the requests seen
${NATS_FLAGS_USAGE}

Examples:
  troupe tail 'evt.>'
  troupe tail 'evt.shop.v1.OrderPlaced.*' --since 1h --json | jq .body
  troupe tail 'rpc.shop.v1.UserService.>'
`;

/** How long a request waits for its reply to be shown; how many wait at most. */
const REPLY_WAIT_MS = 60_000;
const MAX_WAITING_REPLIES = 10_000;

export interface TailArgs {
  readonly pattern: string;
  readonly since: Date | undefined;
  readonly count: number | undefined;
  readonly replies: boolean;
  readonly target: ReturnType<typeof natsTargetOf>;
}

export function parseTailArgs(args: readonly string[], now = new Date()): TailArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  const [pattern, ...more] = positionals;
  if (pattern === undefined) throw new UsageError("a subject pattern is needed: troupe tail 'evt.>'");
  if (more.length > 0) throw new UsageError(`one subject pattern, got ${positionals.join(" ")}`);
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) {
    throw new UsageError(`--count must be a positive whole number, got "${values.count}"`);
  }
  return {
    pattern: assertPattern(pattern),
    since: values.since === undefined ? undefined : parseSince(values.since, now),
    count,
    replies: values["no-replies"] !== true,
    target: natsTargetOf(values),
  };
}

export const tailCommand: TrafficCommand = {
  name: "tail",
  summary: "show the messages on a subject pattern as JSON, as they pass (--since: from the streams)",
  usage: tailUsage,
  async run(args, io = processIo()) {
    const parsed = parseTailArgs(args);
    if (parsed === "help") {
      io.out(tailUsage);
      return 0;
    }
    return withNats("tail", parsed.target, io, (nc) => tail(nc, parsed, io));
  },
};

async function tail(nc: NatsConnection, args: TailArgs, io: CommandIo): Promise<number> {
  const { namespace, json } = args.target;
  const pattern = `${namespacePrefix(namespace)}${args.pattern}`;
  const decoder = createTrafficDecoder(nc, { namespace });
  const finished = new AbortController();
  const stop = () => finished.abort();
  io.signal.addEventListener("abort", stop);
  if (io.signal.aborted) stop();

  // Messages are decoded one after the other, so lines keep the order the messages came in.
  let shown = 0;
  let queue = Promise.resolve();
  const show = (message: SeenMessage) => {
    queue = queue.then(async () => {
      if (finished.signal.aborted) return;
      const record = await recordOf(decoder, message);
      if (finished.signal.aborted) return;
      io.out(json ? recordJson(record) : recordLine(record));
      shown++;
      if (args.count !== undefined && shown >= args.count) stop();
    });
  };

  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    if (args.since !== undefined) {
      const replay = await replayStreams(nc, pattern, namespace, args.since, show);
      cleanups.push(() => replay.stop());
      io.err(`troupe tail: replaying ${replay.streams.join(", ")} from ${args.since.toISOString()}`);
    } else {
      cleanups.push(...follow(nc, pattern, namespace, args.replies, show));
      await nc.flush();
      io.err(`troupe tail: following ${pattern}`);
    }
    await new Promise<void>((resolve) => {
      if (finished.signal.aborted) resolve();
      else finished.signal.addEventListener("abort", () => resolve(), { once: true });
    });
  } finally {
    io.signal.removeEventListener("abort", stop);
    for (const cleanup of cleanups) await cleanup();
    await queue;
  }
  return 0;
}

/** Live: a subscription on the pattern, and one on `_INBOX.>` for replies to requests seen. */
function follow(
  nc: NatsConnection,
  pattern: string,
  namespace: string,
  replies: boolean,
  show: (message: SeenMessage) => void,
): (() => void)[] {
  const waiting = new Map<string, { subject: string; at: number }>();
  const watchReplies = replies && overlaps(pattern, `${namespacePrefix(namespace)}${RPC_PREFIX}.>`);
  const sub = nc.subscribe(pattern, {
    callback: (err, msg) => {
      if (err !== null) return;
      const parsed = parseSubject(msg.subject, namespace);
      // Only Troupe subjects: `>` would also show JetStream's API and acks, and inboxes.
      if (parsed === undefined) return;
      if (
        watchReplies &&
        parsed.kind === "rpc" &&
        msg.reply?.startsWith(`${DEFAULT_INBOX_PREFIX}.`) === true
      ) {
        remember(waiting, msg.reply, msg.subject);
      }
      show(seen(msg));
    },
  });
  if (!watchReplies) return [() => sub.unsubscribe()];
  const inbox = nc.subscribe(`${DEFAULT_INBOX_PREFIX}.>`, {
    callback: (err, msg) => {
      if (err !== null) return;
      const request = waiting.get(msg.subject);
      if (request === undefined) return;
      waiting.delete(msg.subject);
      show({ ...seen(msg), replyTo: request.subject });
    },
  });
  return [() => sub.unsubscribe(), () => inbox.unsubscribe()];
}

function remember(waiting: Map<string, { subject: string; at: number }>, reply: string, subject: string) {
  const now = Date.now();
  if (waiting.size >= MAX_WAITING_REPLIES) {
    for (const [key, entry] of waiting) {
      if (now - entry.at > REPLY_WAIT_MS || waiting.size >= MAX_WAITING_REPLIES) waiting.delete(key);
      else break;
    }
  }
  waiting.set(reply, { subject, at: now });
}

function seen(msg: Msg): SeenMessage {
  return { subject: msg.subject, data: msg.data, headers: msg.headers, time: new Date() };
}

const FLAGS = {
  ...NATS_FLAGS,
  since: { type: "string" },
  count: { type: "string" },
  "no-replies": { type: "boolean" },
} as const;
