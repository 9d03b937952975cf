/**
 * What `troupe publish` and `troupe enqueue` share: the type looked up in the contracts the
 * running services publish (message-types.ts), the JSON read in the protobuf JSON mapping, and
 * the runtime's own `publishEvent`/`enqueueJob` (runtime/jetstream/publish.ts) so subject,
 * message id, key and headers are exactly what an actor would send.
 */

import { type DescMessage, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type EnqueueOptions, enqueueJob, type PublishAck, publishEvent } from "../../jetstream/publish.ts";
import { UsageError } from "../command.ts";
import { CommandError } from "../command-errors.ts";
import { findMessageType } from "./message-types.ts";
import { type CommandIo, messageOf, type NatsTarget } from "./nats-target.ts";
import { formatTable } from "./table.ts";

export const PUBLISH_FLAGS = {
  key: { type: "string" },
  id: { type: "string" },
  header: { type: "string", multiple: true },
} as const;

export const PUBLISH_FLAGS_USAGE = `  --id <id>            the message id (default: a fresh one); the same id again within the
                       stream's duplicate window is dropped
  --header <k=v>       metadata the handler sees in meta.headers (repeatable)`;

export interface PublishArgs {
  readonly typeName: string;
  /** The JSON text, or undefined to read it from stdin. */
  readonly json: string | undefined;
  readonly options: Partial<EnqueueOptions>;
}

/** The type, the JSON (`-` or none: stdin) and the options of `publish`/`enqueue` arguments. */
export function publishArgsOf(
  what: "event" | "job",
  positionals: readonly string[],
  values: {
    readonly key?: string | undefined;
    readonly id?: string | undefined;
    readonly header?: string[] | undefined;
  },
): PublishArgs {
  const [typeName, json, ...more] = positionals;
  if (typeName === undefined) throw new UsageError(`the ${what} type is needed, then its JSON`);
  if (more.length > 0)
    throw new UsageError(`a type and one JSON value, got ${positionals.length} arguments (quote the JSON)`);
  const headers: [string, string][] = [];
  for (const header of values.header ?? []) {
    const at = header.indexOf("=");
    if (at <= 0) throw new UsageError(`--header must be name=value, got "${header}"`);
    headers.push([header.slice(0, at), header.slice(at + 1)]);
  }
  if (values.id === "") throw new UsageError("--id cannot be empty");
  return {
    typeName,
    json: json === "-" ? undefined : json,
    options: {
      ...(values.key === undefined ? {} : { key: values.key }),
      ...(values.id === undefined ? {} : { id: values.id }),
      ...(headers.length === 0 ? {} : { headers }),
    },
  };
}

/** Publishes (`event`) or enqueues (`job`) and prints the stream's acknowledgement. */
export async function publishMessage(
  nc: NatsConnection,
  what: "event" | "job",
  args: PublishArgs,
  target: NatsTarget,
  io: CommandIo,
): Promise<number> {
  const text = args.json ?? new TextDecoder().decode(await io.readStdin());
  let value: JsonValue;
  try {
    value = JSON.parse(text === "" ? "{}" : text) as JsonValue;
  } catch (err) {
    throw new CommandError(`the ${what} is not JSON: ${messageOf(err)}`);
  }
  const { schema, registry } = await findMessageType(nc, args.typeName);
  let message: ReturnType<typeof fromJson<DescMessage>>;
  try {
    message = fromJson(schema, value, { registry });
  } catch (err) {
    throw new CommandError(`the JSON is not a ${schema.typeName}: ${messageOf(err)}`);
  }
  const js = jetstream(nc);
  const options = { ...args.options, namespace: target.namespace };
  const ack: PublishAck =
    what === "event"
      ? await publishEvent(js, schema, message, options)
      : await enqueueJob(js, schema, message, options);
  const result = { type: schema.typeName, ...ack };
  if (target.json) io.out(JSON.stringify(result));
  else {
    const lines = formatTable(
      ["TYPE", "STREAM", "SEQ", "ID", "DUPLICATE"],
      [[result.type, ack.stream, String(ack.seq), ack.id, ack.duplicate ? "yes (dropped)" : "no"]],
    );
    for (const line of lines) io.out(line);
  }
  return 0;
}
