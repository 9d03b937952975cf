/**
 * `troupe decode <subject>`: one payload from stdin, decoded to JSON with the contracts the
 * running services publish (docs/adr/0022-contract-descriptors.md). Made for the nats CLI's
 * `--translate`, which runs a command per message with the body on stdin and `{{Subject}}`
 * replaced by the message's subject (no headers):
 *
 *   nats sub 'evt.>' --translate 'troupe decode {{Subject}}'
 */

import { headers as natsHeaders } from "@nats-io/nats-core";
import { createTrafficDecoder } from "../../inspect/traffic-decoder.ts";
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
import { assertPattern } from "../traffic/subject-pattern.ts";
import { recordOf } from "../traffic/traffic-record.ts";

export const decodeUsage = `Usage: troupe decode <subject> [options] < payload

Decodes one message body read from stdin (binary protobuf, or JSON) by its subject, with the
contracts the running services publish, and prints it as JSON. For the nats CLI:

  nats sub 'evt.>' --translate 'troupe decode {{Subject}}'
  nats stream view EVT_shop_v1 --translate 'troupe decode {{Subject}}'

The subject is the whole subject, with its namespace (--namespace says which part that is).
A dead letter (dlq.*) needs its troupe-dlq-* headers, which --translate does not pass: give them
with --header, or use \`troupe dlq show <seq>\`.

Options:
  --response           the body is the reply to a request on <subject> (rpc.* only)
  --header <k=v>       a header of the message (repeatable): troupe-dlq-subject=evt.…
  --body               print only the decoded body (default: subject, kind, type, method, body)
${NATS_FLAGS_USAGE.replace(/\n {2}--json[^\n]*/, "")}
`;

export const decodeCommand: TrafficCommand = {
  name: "decode",
  summary: "decode a payload on stdin by its subject (for nats sub --translate)",
  usage: decodeUsage,
  async run(args, io = processIo()) {
    const { values, positionals } = parseFlags(args, FLAGS);
    if (values.help === true) {
      io.out(decodeUsage);
      return 0;
    }
    const [subject, ...more] = positionals;
    if (subject === undefined) throw new UsageError("a subject is needed: troupe decode <subject> < payload");
    if (more.length > 0) throw new UsageError(`one subject, got ${positionals.join(" ")}`);
    assertPattern(subject);
    if (/[*>]/.test(subject))
      throw new UsageError(`decode needs the message's own subject, not a pattern: ${subject}`);
    const hdrs = natsHeaders();
    for (const header of values.header ?? []) {
      const at = header.indexOf("=");
      if (at <= 0) throw new UsageError(`--header must be name=value, got "${header}"`);
      hdrs.append(header.slice(0, at), header.slice(at + 1));
    }
    const target = natsTargetOf(values);
    const data = await io.readStdin();
    return withNats("decode", target, io, async (nc) => {
      const decoder = createTrafficDecoder(nc, { namespace: target.namespace });
      const record = await recordOf(
        decoder,
        { subject, data, headers: (values.header ?? []).length > 0 ? hdrs : undefined, time: new Date() },
        { response: values.response === true },
      );
      if (record.error !== undefined) throw new CommandError(record.error);
      const { subject: _, kind, type, method, body, deadLetter } = record;
      io.out(JSON.stringify(values.body === true ? body : { subject, kind, type, method, body, deadLetter }));
      return 0;
    });
  },
};

const FLAGS = {
  ...NATS_FLAGS,
  response: { type: "boolean" },
  header: { type: "string", multiple: true },
  body: { type: "boolean" },
} as const;
