import assert from "node:assert/strict";
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { eventStreamName, eventSubject } from "troupe/protocol";

/**
 * The events stored under one key: the stream's own record, not what consumers saw, so a test
 * can count how often something was published (duplicates dropped by the stream's window are
 * not there, copies published after it are).
 */
export async function storedEvents<Desc extends DescMessage>(
  js: JetStreamClient,
  jsm: JetStreamManager,
  schema: Desc,
  key: string,
  namespace: string,
): Promise<MessageShape<Desc>[]> {
  const stream = eventStreamName(schema.file.proto.package, namespace);
  const subject = eventSubject(schema, key, namespace);
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return [];
  const consumer = await js.consumers.get(stream, { filter_subjects: subject });
  const found: MessageShape<Desc>[] = [];
  for await (const msg of await consumer.fetch({ max_messages: count, expires: 5_000 })) {
    found.push(fromBinary(schema, msg.data));
    if (found.length === count) break;
  }
  assert.equal(found.length, count, `read every stored event on ${subject}`);
  return found;
}
