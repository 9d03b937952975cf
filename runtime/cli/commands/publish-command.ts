/**
 * `troupe publish <Event type> <json>`: publishes one event as an actor would (for testing a
 * subscriber), the type taken from the contracts the running services publish, and prints
 * the stream and sequence that stored it. traffic/publish-message.ts does the work.
 */
import { parseFlags } from "../command.ts";
import {
  NATS_FLAGS,
  NATS_FLAGS_USAGE,
  natsTargetOf,
  processIo,
  type TrafficCommand,
  withNats,
} from "../traffic/nats-target.ts";
import {
  PUBLISH_FLAGS,
  PUBLISH_FLAGS_USAGE,
  publishArgsOf,
  publishMessage,
} from "../traffic/publish-message.ts";

export const publishUsage = `Usage: troupe publish <Event type> [json] [options]

Publishes one event, as an actor's ctx.publish would: on evt.<type>.<key>, the key taken from
the field the type's (troupe.v1.event) option names unless --key says otherwise. The type
(OrderPlaced, or shop.v1.OrderPlaced) comes from the contracts the running services publish;
the JSON is the protobuf JSON mapping of it (read from stdin when absent or "-").
Prints the stream and sequence that stored it.

Options:
  --key <key>          the event's key (one subject token)
${PUBLISH_FLAGS_USAGE}
${NATS_FLAGS_USAGE}

Example:
  troupe publish UserRegistered '{"userId":"u-1","email":"ada@example.com"}'
`;

export const publishCommand: TrafficCommand = {
  name: "publish",
  summary: "publish an event given as JSON (for testing)",
  usage: publishUsage,
  async run(args, io = processIo()) {
    const { values, positionals } = parseFlags(args, FLAGS);
    if (values.help === true) {
      io.out(publishUsage);
      return 0;
    }
    const parsed = publishArgsOf("event", positionals, values);
    const target = natsTargetOf(values);
    return withNats("publish", target, io, (nc) => publishMessage(nc, "event", parsed, target, io));
  },
};

const FLAGS = { ...NATS_FLAGS, ...PUBLISH_FLAGS } as const;
