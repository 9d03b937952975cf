/**
 * Where the RabbitMQ peer's events live: the broker this machine runs (127.0.0.1:5672,
 * guest/guest, unless BENCH_AMQP_URL says otherwise) and one durable queue whose name is unique
 * to the run. The driver picks the name, hands both to its children in the environment (as
 * bench/rpc hands over NATS_CA), checks the broker is there before the run, and deletes the queue
 * afterwards, whatever became of the measuring processes.
 */
import { connect } from "amqplib";

export const DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";

/** How the driver tells the measuring process the broker and the queue. */
export const AMQP_URL_ENV = "BENCH_AMQP_URL";
export const AMQP_QUEUE_ENV = "BENCH_AMQP_QUEUE";

/** A queue name unique to this run: `troupe-bench-<pid>-<time>`. */
export function runQueueName(): string {
  return `troupe-bench-${process.pid}-${Date.now().toString(36)}`;
}

/** The broker's URL and the run's queue, as the driver set them. */
export function amqpTarget(): { readonly url: string; readonly queue: string } {
  const queue = process.env[AMQP_QUEUE_ENV];
  if (queue === undefined || queue === "") throw new Error(`${AMQP_QUEUE_ENV} must name the run's queue`);
  return { url: process.env[AMQP_URL_ENV] || DEFAULT_AMQP_URL, queue };
}

/** Why the broker at `url` cannot be used (unreachable, refused), or undefined when it can. */
export async function amqpUnavailable(url: string): Promise<string | undefined> {
  try {
    const connection = await connect(url, { timeout: 3000 });
    await connection.close();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Deletes `queue` on the broker at `url`; nothing when there is none. */
export async function deleteQueue(url: string, queue: string): Promise<void> {
  const connection = await connect(url, { timeout: 3000 });
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
  } finally {
    await connection.close();
  }
}
