/**
 * The keys of a JetStream KV bucket that hold a value, listed so that the listing always ends.
 *
 * nats.js's `kv.keys()` counts the messages pending when its ordered push consumer is created and
 * waits for the last of them; when those messages are removed before delivery (a stream purge
 * filtered to a key, as `StateStore.forget` does, or a lease that expires in a bucket with a TTL),
 * nothing is delivered and the listing waits for ever (measured: 12 of 60 listings racing a purge
 * still waiting after 30 s; tests/portable/state-store.test.ts races them). Here an
 * ordered pull consumer fetches the last message of each key in batches, and a batch that
 * expires empty ends the listing: at worst it takes FETCH_EXPIRES_MS longer, never for ever.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { DeliverPolicy } from "@nats-io/jetstream";
import { Bucket, type KV } from "@nats-io/kv";
import { Header } from "../protocol/headers.ts";

/** How long one fetch waits for the next messages before the listing counts as complete. */
const FETCH_EXPIRES_MS = 1_000;
/** Keys read per fetch. */
const BATCH = 512;

/** The keys of `kv` under `filter` (a key or a wildcard, `>` for all) whose last entry is a value, sorted. */
export async function listKeys(kv: KV, filter = ">"): Promise<string[]> {
  if (!(kv instanceof Bucket)) throw new TypeError("listKeys: not a JetStream KV bucket");
  kv.validateSearchKey(filter);
  const consumer = await kv.js.consumers.get(kv.stream, {
    // One filter as a string: the consumer is created by name, which least-privilege users may do.
    filter_subjects: kv.fullKeyName(kv.encodeKey(filter)),
    deliver_policy: DeliverPolicy.LastPerSubject,
    headers_only: true,
  });
  const keys = new Set<string>();
  const read = (m: JsMsg) => {
    const key = kv.decodeKey(m.subject.substring(kv.prefixLen));
    const op = m.headers?.get(Header.kvOperation) ?? "";
    if (op === "DEL" || op === "PURGE") keys.delete(key);
    else keys.add(key);
  };
  try {
    if ((await consumer.info(true)).num_pending > 0) {
      for (let done = false; !done; ) {
        const batch = await consumer.fetch({ max_messages: BATCH, expires: FETCH_EXPIRES_MS });
        let received = 0;
        for await (const m of batch) {
          received++;
          read(m);
          if (m.info.pending === 0) {
            done = true;
            break;
          }
        }
        if (received === 0) {
          // Nothing came before the fetch expired: what was pending is gone (the race above),
          // unless the server still counts some, which is a failure to say, not an empty list.
          const { num_pending: pending } = await consumer.info();
          if (pending > 0) {
            throw new Error(`listing the keys of ${kv.bucket}: ${pending} pending, none delivered`);
          }
          done = true;
        }
      }
    }
  } finally {
    await consumer.delete().catch(() => {
      // Ephemeral: the server removes it after its inactivity threshold.
    });
  }
  return [...keys].sort();
}
