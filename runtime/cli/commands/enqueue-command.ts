/**
 * `troupe enqueue <Job type> <json>`: enqueues one job as an actor would (for testing a
 * worker), the type taken from the contracts the running services publish, and prints the
 * stream and sequence that stored it. traffic/publish-message.ts does the work.
 */
import { parseFlags, parseMs } from "../command.ts";
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

export const enqueueUsage = `Usage: troupe enqueue <Job type> [json] [options]

Enqueues one job, as an actor's ctx.enqueue would: on job.<type>, to its work queue (the
JOB_ stream a consumer or producer of the type declared). The type (FulfilOrder, or
shop.v1.FulfilOrder) comes from the contracts the running services publish; the JSON is the
protobuf JSON mapping of it (read from stdin when absent or "-").
Prints the stream and sequence that stored it.

Options:
  --key <key>          the job's ordering key (the troupe-key header)
  --deadline-ms <n>    dead-letter the job if it is not done within n ms (default: never)
${PUBLISH_FLAGS_USAGE}
${NATS_FLAGS_USAGE}

Example:
  troupe enqueue FulfilOrder '{"orderId":"o-1"}'
`;

export const enqueueCommand: TrafficCommand = {
  name: "enqueue",
  summary: "enqueue a job given as JSON (for testing)",
  usage: enqueueUsage,
  async run(args, io = processIo()) {
    const { values, positionals } = parseFlags(args, FLAGS);
    if (values.help === true) {
      io.out(enqueueUsage);
      return 0;
    }
    const parsed = publishArgsOf("job", positionals, values);
    const deadlineMs =
      values["deadline-ms"] === undefined ? undefined : parseMs("deadline-ms", values["deadline-ms"], 0);
    const withDeadline = {
      ...parsed,
      options: { ...parsed.options, ...(deadlineMs === undefined ? {} : { deadlineMs }) },
    };
    const target = natsTargetOf(values);
    return withNats("enqueue", target, io, (nc) => publishMessage(nc, "job", withDeadline, target, io));
  },
};

const FLAGS = { ...NATS_FLAGS, ...PUBLISH_FLAGS, "deadline-ms": { type: "string" } } as const;
