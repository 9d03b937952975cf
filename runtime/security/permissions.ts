/**
 * The NATS permissions of one process, derived from its declaration (runtime/actor/actor-declaration.ts;
 * docs/adr/0030-credentials-from-declarations.md). Everything is allowed by name, nothing by
 * default: a subject an actor did not declare is refused by nats-server as a permissions
 * violation naming the subject.
 *
 * An actor may
 * - subscribe to its own services' subjects (queue group, per-instance and per-version
 *   subjects: `rpc.<Service>.>`), to `$SRV` requests for its name, and to its private inbox
 *   prefix (`_INBOX.<name>.>`), where every reply, JetStream answer and pulled message lands;
 * - publish requests to the services it calls (one method each, when the declaration names
 *   methods, as the gateway's does), `$SRV` discovery requests, its own events and jobs, and the
 *   dead letters of its own consumers, replies to inboxes (`_INBOX.>`: whoever made a request
 *   alone subscribes to its reply subject), acks of its own consumers' messages;
 * - use the JetStream API for the streams of the events and jobs it publishes or consumes
 *   (create, update, info: never delete or purge), for its own durable consumers, and for its
 *   own state buckets (and read, create and write the runtime's shared buckets as far as its
 *   part needs: route records read, descriptors written, idempotency keys of its own consumers).
 */

import type { ProcessDeclaration } from "../protocol/declaration.ts";
import {
  DEFAULT_INBOX_PREFIX,
  deadLetterStreamName,
  deadLetterSubject,
  descriptorsBucketName,
  EVENT_PREFIX,
  eventConsumerName,
  eventStreamName,
  JOB_PREFIX,
  JS_API_PREFIX,
  jobConsumerName,
  jobStreamName,
  namespacePrefix,
  packageOf,
  placementBucketName,
  privateInboxPrefix,
  processedBucketName,
  REMINDER_PREFIX,
  RPC_PREFIX,
  reminderConsumerName,
  reminderStreamName,
  routesBucketName,
  stateBucketName,
} from "../protocol/subjects.ts";

/** Publish and subscribe allow-lists (and what no process may publish). */
export interface NatsPermissions {
  readonly pub: { readonly allow: readonly string[]; readonly deny: readonly string[] };
  readonly sub: { readonly allow: readonly string[] };
}

const api = (...tokens: string[]) => [JS_API_PREFIX, ...tokens].join(".");

/** What no process may do, whatever it is allowed: delete a stream (a deny wins over any allow). */
export const DENIED_TO_EVERY_PROCESS: readonly string[] = [api("STREAM", "DELETE", ">")];

/**
 * The JetStream API subjects that read and write one KV bucket (stream `KV_<bucket>`), and its
 * keys. `own`: the process's own bucket, which it may also purge (forgetting keys does); a shared
 * bucket it may only create, update and read.
 */
function bucketAccess(bucket: string, keys: readonly string[], own: boolean): string[] {
  const stream = `KV_${bucket}`;
  return [
    ...(own ? [api("STREAM", "*", stream)] : streamAccess(stream)),
    // Leader reads (ADR 0020) and direct reads, by key.
    api("STREAM", "MSG", "GET", stream),
    api("DIRECT", "GET", stream),
    api("DIRECT", "GET", stream, ">"),
    // Ordered consumers of keys(), watch() and history(): create, info, delete, and fetch
    // (keys() pulls: runtime/jetstream/kv-keys.ts).
    api("CONSUMER", "*", stream, ">"),
    api("CONSUMER", "MSG", "NEXT", stream, ">"),
    ...keys.map((key) => `$KV.${bucket}.${key}`),
  ];
}

/** The JetStream API subjects of a stream that a process publishes to or consumes from: never purge. */
function streamAccess(stream: string): string[] {
  return ["CREATE", "UPDATE", "INFO"].map((verb) => api("STREAM", verb, stream));
}

/** The JetStream API subjects of one durable consumer of the process. */
function consumerAccess(stream: string, consumer: string): string[] {
  return [
    api("CONSUMER", "*", stream, consumer),
    api("CONSUMER", "CREATE", stream, consumer, ">"),
    api("CONSUMER", "MSG", "NEXT", stream, consumer),
    `$JS.ACK.${stream}.${consumer}.>`,
  ];
}

/** `$SRV.PING`, `$SRV.INFO.<name>`, `$SRV.STATS.<name>.<id>`: the discovery requests of one service. */
function discoveryRequests(name: string): string[] {
  return ["$SRV.*", `$SRV.*.${name}`, `$SRV.*.${name}.>`];
}

/** The permissions of a process as it declares itself, in `namespace`. */
export function permissionsOf(declaration: ProcessDeclaration, namespace = ""): NatsPermissions {
  const ns = namespacePrefix(namespace);
  const pub = new Set<string>();
  const sub = new Set<string>();
  const add = (set: Set<string>, subjects: readonly string[]) => {
    for (const subject of subjects) set.add(subject);
  };

  // Every process: its private inbox, replies to any inbox (a reply's subject is a random token
  // its caller alone subscribes to), flow control of the ordered consumers it reads KV with,
  // discovery, the account's JetStream info.
  sub.add(`${privateInboxPrefix(declaration.name, namespace)}.>`);
  add(pub, [`${DEFAULT_INBOX_PREFIX}.>`, "$JS.FC.>", "$SRV.>", api("INFO")]);

  // What it serves.
  add(sub, discoveryRequests(declaration.name));
  for (const service of declaration.serves) sub.add(`${ns}${RPC_PREFIX}.${service}.>`);

  // What it calls: whole services, or single methods (each with its instance and version subjects).
  if (declaration.callsMethods === undefined) {
    for (const service of declaration.calls) pub.add(`${ns}${RPC_PREFIX}.${service}.>`);
  } else {
    for (const method of declaration.callsMethods) {
      add(pub, [`${ns}${RPC_PREFIX}.${method}`, `${ns}${RPC_PREFIX}.${method}.>`]);
    }
  }

  // Events and jobs it publishes: their subjects and streams.
  for (const type of declaration.publishes.events) {
    pub.add(`${ns}${EVENT_PREFIX}.${type}.*`);
    add(pub, streamAccess(eventStreamName(packageOf(type), namespace)));
  }
  for (const type of declaration.publishes.jobs) {
    pub.add(`${ns}${JOB_PREFIX}.${type}`);
    add(pub, streamAccess(jobStreamName({ typeName: type }, namespace)));
  }

  // Events and jobs it consumes: their streams, its durable consumers, their dead letters and
  // the idempotency keys of those consumers.
  const consumers: [string, string][] = [
    ...declaration.consumes.events.map((type): [string, string] => [
      eventStreamName(packageOf(type), namespace),
      eventConsumerName(declaration.name, { name: shortName(type) }),
    ]),
    ...declaration.consumes.jobs.map((type): [string, string] => [
      jobStreamName({ typeName: type }, namespace),
      jobConsumerName({ name: shortName(type) }),
    ]),
  ];
  const dlq = deadLetterStreamName(namespace);
  if (consumers.length > 0) {
    add(pub, streamAccess(dlq));
    add(
      pub,
      bucketAccess(
        processedBucketName(namespace),
        consumers.map(([, consumer]) => `${consumer}.>`),
        false,
      ),
    );
  }
  for (const [stream, consumer] of consumers) {
    add(pub, streamAccess(stream));
    add(pub, consumerAccess(stream, consumer));
    pub.add(deadLetterSubject(stream, consumer, namespace));
  }

  // Keyed services (docs/adr/0032-keyed-virtual-actors.md): calls and reminder turns forwarded to
  // the partition's owner, the service's leases and membership, its reminders. Cancelling a
  // reminder purges the shared reminders stream, whose purge filter is in the request body: a
  // keyed actor's credentials cannot be narrowed to its own reminders there.
  const keyed = declaration.keyed ?? [];
  if (keyed.length > 0) {
    const reminders = reminderStreamName(namespace);
    add(pub, [...streamAccess(reminders), api("STREAM", "PURGE", reminders), ...streamAccess(dlq)]);
    add(
      pub,
      bucketAccess(
        placementBucketName(namespace),
        keyed.map((service) => `${service}.>`),
        false,
      ),
    );
  }
  for (const service of keyed) {
    const consumer = reminderConsumerName({ typeName: service });
    add(pub, [`${ns}${RPC_PREFIX}.${service}.>`, `${ns}${REMINDER_PREFIX}.${service}.>`]);
    add(pub, consumerAccess(reminderStreamName(namespace), consumer));
    pub.add(deadLetterSubject(reminderStreamName(namespace), consumer, namespace));
  }

  // Its own state buckets, and the runtime's shared ones.
  for (const bucket of declaration.state)
    add(pub, bucketAccess(stateBucketName(bucket, namespace), [">"], true));
  add(pub, bucketAccess(routesBucketName(namespace), [], false));
  add(pub, bucketAccess(descriptorsBucketName(namespace), [">"], false));

  return {
    pub: { allow: [...pub], deny: DENIED_TO_EVERY_PROCESS },
    sub: { allow: [...sub] },
  };
}

const shortName = (typeName: string) => typeName.slice(typeName.lastIndexOf(".") + 1);
