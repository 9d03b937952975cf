/**
 * The one place where Troupe's NATS subjects are built and parsed (docs/design.md "Subjects";
 * docs/adr/0004-rpc-over-nats.md). Everything else calls these functions.
 *
 *   rpc.<package>.<Service>.<Method>              a method, served by the actor's queue group
 *   rpc.<package>.<Service>.<Method>.<instance>   the same method on one chosen instance
 *   rpc.<package>.<Service>.<Method>.v.<version>  the same method on the instances of one version
 *                                                 (`1.1.0` as the token `1_1_0`; ADR 0012)
 *   evt.<package>.<Message>.<key>                 an event (`_` when it has no key)
 *   job.<package>.<Message>                       a job on a work queue
 *   dlq.<stream>.<consumer>                       a dead letter
 *   $SRV.<VERB>[.<name>[.<id>]]                   discovery (NATS ADR-32)
 *   $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> a pull request of the delivery loop (NATS ADR-13)
 *
 * An optional namespace prefixes every Troupe subject (not $SRV) so several systems can share
 * one NATS account: `acme.rpc.shop.v1.UserService.GetUser`.
 */
import type { DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";

/** The prefix of nats.js's reply inboxes (`_INBOX.<id>`) when a connection sets none of its own. */
export const DEFAULT_INBOX_PREFIX = "_INBOX";
export const RPC_PREFIX = "rpc";
export const EVENT_PREFIX = "evt";
export const JOB_PREFIX = "job";
export const DEAD_LETTER_PREFIX = "dlq";
/** The key token of an event published without a key. */
export const NO_KEY = "_";

/** The verbs of the NATS service protocol (ADR-32), as the server-side subjects spell them. */
export const ServiceVerb = {
  PING: "PING",
  INFO: "INFO",
  STATS: "STATS",
} as const;
export type ServiceVerb = (typeof ServiceVerb)[keyof typeof ServiceVerb];

const INVALID_TOKEN = /[\s.*>]/;

/** Throws unless `token` can stand as one subject token (no dots, wildcards or white space). */
export function assertToken(token: string, what: string): string {
  if (token.length === 0 || INVALID_TOKEN.test(token)) {
    throw new Error(`${what} "${token}" cannot be a NATS subject token`);
  }
  return token;
}

/** Validates a namespace (one or more tokens) and returns it with its trailing dot, or "". */
export function namespacePrefix(namespace: string): string {
  if (namespace === "") return "";
  for (const token of namespace.split(".")) assertToken(token, "namespace token");
  return `${namespace}.`;
}

/** `rpc.shop.v1.UserService`: the subject prefix of a service's methods. */
export function rpcServiceSubject(service: DescService, namespace = ""): string {
  return `${namespacePrefix(namespace)}${RPC_PREFIX}.${service.typeName}`;
}

/** `shop.v1.UserService/GetUser`: how errors, logs and the gateway's identity signatures name a method. */
export function methodPath(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}

/** `rpc.shop.v1.UserService.GetUser` */
export function rpcMethodSubject(method: DescMethod, namespace = ""): string {
  return `${rpcServiceSubject(method.parent, namespace)}.${method.name}`;
}

/** `rpc.shop.v1.UserService.GetUser.<instance>`: one instance's own subject for a method. */
export function rpcInstanceSubject(method: DescMethod, instanceId: string, namespace = ""): string {
  return `${rpcMethodSubject(method, namespace)}.${assertToken(instanceId, "instance id")}`;
}

/** `rpc.shop.v1.UserService.*`: what an actor subscribes to, to serve every method of a service. */
export function rpcServiceWildcard(service: DescService, namespace = ""): string {
  return `${rpcServiceSubject(service, namespace)}.*`;
}

/** `rpc.shop.v1.UserService.*.<instance>`: every method of a service on one instance. */
export function rpcInstanceWildcard(service: DescService, instanceId: string, namespace = ""): string {
  return `${rpcServiceSubject(service, namespace)}.*.${assertToken(instanceId, "instance id")}`;
}

/** The token before a version token: `rpc.<package>.<Service>.<Method>.v.<version>` (ADR 0012). */
export const VERSION_MARKER = "v";

/**
 * A semantic version as one subject token: its dots become `_`, which semver never uses
 * (identifiers are `[0-9A-Za-z-]`, separated by `.` and `+`), so the token maps back to exactly
 * one version: `1.1.0` → `1_1_0`, `2.0.0-rc.1+build.7` → `2_0_0-rc_1+build_7`.
 */
export function versionToken(version: string): string {
  if (version.includes("_")) throw new Error(`version "${version}" cannot contain "_"`);
  return assertToken(version.replaceAll(".", "_"), "version");
}

/** The version a token of `versionToken` stands for. */
export function versionOfToken(token: string): string {
  return token.replaceAll("_", ".");
}

/** `rpc.shop.v1.UserService.GetUser.v.1_1_0`: a method on the instances of one version. */
export function rpcVersionSubject(method: DescMethod, version: string, namespace = ""): string {
  return `${rpcMethodSubject(method, namespace)}.${VERSION_MARKER}.${versionToken(version)}`;
}

/** `rpc.shop.v1.UserService.*.v.1_1_0`: every method of a service on the instances of one version. */
export function rpcVersionWildcard(service: DescService, version: string, namespace = ""): string {
  return `${rpcServiceSubject(service, namespace)}.*.${VERSION_MARKER}.${versionToken(version)}`;
}

/**
 * The method name of an RPC subject under a service prefix: the token after `prefix.`, whether
 * or not an instance or version suffix follows. Undefined when the subject is not under the prefix.
 */
export function methodNameOf(subject: string, serviceSubject: string): string | undefined {
  if (!subject.startsWith(serviceSubject) || subject.charCodeAt(serviceSubject.length) !== 46) {
    return undefined;
  }
  const start = serviceSubject.length + 1;
  const end = subject.indexOf(".", start);
  return end === -1 ? subject.slice(start) : subject.slice(start, end);
}

/** `$SRV.PING`, `$SRV.PING.<name>`, `$SRV.PING.<name>.<id>` */
export function serviceVerbSubject(verb: ServiceVerb, name?: string, id?: string): string {
  if (name === undefined) return `$SRV.${verb}`;
  if (id === undefined) return `$SRV.${verb}.${assertToken(name, "service name")}`;
  return `$SRV.${verb}.${assertToken(name, "service name")}.${assertToken(id, "service id")}`;
}

/** `shop.v1` of a message or service type name `shop.v1.OrderPlaced`. */
export function packageOf(typeName: string): string {
  const dot = typeName.lastIndexOf(".");
  return dot === -1 ? "" : typeName.slice(0, dot);
}

/** `evt.shop.v1.OrderPlaced.<key>`; an event without a key uses the `_` token. */
export function eventSubject(message: DescMessage, key = "", namespace = ""): string {
  const token = key === "" ? NO_KEY : assertToken(key, "event key");
  return `${namespacePrefix(namespace)}${EVENT_PREFIX}.${message.typeName}.${token}`;
}

/** `evt.shop.v1.OrderPlaced.*`: every event of one type, whatever its key. */
export function eventFilter(message: DescMessage, namespace = ""): string {
  return `${namespacePrefix(namespace)}${EVENT_PREFIX}.${message.typeName}.*`;
}

/** `evt.shop.v1.>`: every event of one proto package (the subjects of its event stream). */
export function eventPackageFilter(protoPackage: string, namespace = ""): string {
  return `${namespacePrefix(namespace)}${EVENT_PREFIX}.${protoPackage}.>`;
}

/** The key of an event subject (undefined for `_`, the subject of an event without a key). */
export function eventKeyOf(subject: string): string | undefined {
  const key = subject.slice(subject.lastIndexOf(".") + 1);
  return key === NO_KEY ? undefined : key;
}

/** `job.shop.v1.FulfilOrder`: the work queue of one job message type. */
export function jobSubject(message: DescMessage, namespace = ""): string {
  return `${namespacePrefix(namespace)}${JOB_PREFIX}.${message.typeName}`;
}

/** `dlq.<stream>.<consumer>`: where a consumer's dead letters go. */
export function deadLetterSubject(stream: string, consumer: string, namespace = ""): string {
  return `${namespacePrefix(namespace)}${DEAD_LETTER_PREFIX}.${assertToken(stream, "stream")}.${assertToken(consumer, "consumer")}`;
}

/** `dlq.>`: every dead letter (the subjects of the dead-letter stream). */
export function deadLetterFilter(namespace = ""): string {
  return `${namespacePrefix(namespace)}${DEAD_LETTER_PREFIX}.>`;
}

/**
 * JetStream stream names (no dots): `EVT_shop_v1`, `JOB_shop_v1_FulfilOrder`, `DLQ`, each
 * prefixed by the namespace (`acme_EVT_shop_v1`).
 */
export function eventStreamName(protoPackage: string, namespace = ""): string {
  return streamName(namespace, "EVT", protoPackage);
}

export function jobStreamName(message: Pick<DescMessage, "typeName">, namespace = ""): string {
  return streamName(namespace, "JOB", message.typeName);
}

export function deadLetterStreamName(namespace = ""): string {
  return streamName(namespace, "DLQ");
}

function streamName(namespace: string, ...parts: string[]): string {
  const name = [namespace, ...parts]
    .filter((p) => p !== "")
    .join("_")
    .replaceAll(".", "_");
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`"${name}" cannot be a JetStream stream name`);
  return name;
}

/**
 * Durable consumer names (no dots): an event consumer is one per subscribing service and event
 * type, `<service>_<Message>` (`email_UserRegistered`); a job queue has one consumer, named after
 * its message (`FulfilOrder`). Each is unique within its stream.
 */
export function eventConsumerName(service: string, message: Pick<DescMessage, "name">): string {
  return consumerName(`${service}_${message.name}`);
}

export function jobConsumerName(message: Pick<DescMessage, "name">): string {
  return consumerName(message.name);
}

function consumerName(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`"${name}" cannot be a JetStream consumer name`);
  return name;
}

/** JetStream's default API prefix (a client may be given another, e.g. across domains). */
export const JS_API_PREFIX = "$JS.API";

/** True when `reply` is a JetStream ack subject (`$JS.ACK.…`): a consumer's message, not a status. */
export function isAckSubject(reply: string | undefined): reply is string {
  return reply?.startsWith("$JS.ACK.") === true;
}

/**
 * JetStream's subject for a pull request of a durable consumer's next messages, under the JetStream
 * client's API prefix (https://github.com/nats-io/nats-architecture-and-design/blob/main/adr/ADR-13.md).
 */
export function consumerNextSubject(stream: string, consumer: string, apiPrefix = JS_API_PREFIX): string {
  return `${apiPrefix}.CONSUMER.MSG.NEXT.${assertToken(stream, "stream")}.${assertToken(consumer, "consumer")}`;
}

const BUCKET_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * The bucket name for `bucket` in `namespace`: `acme_users` (a dotted namespace `acme.prod`
 * gives `acme_prod_users`), `users` without a namespace.
 */
export function stateBucketName(bucket: string, namespace = ""): string {
  if (!BUCKET_NAME.test(bucket)) throw new Error(`state bucket "${bucket}" must match [A-Za-z0-9_-]+`);
  const name = namespace === "" ? bucket : `${namespace.replaceAll(".", "_")}_${bucket}`;
  if (!BUCKET_NAME.test(name)) {
    throw new Error(`namespace "${namespace}" cannot prefix a bucket name: use [A-Za-z0-9_-] and dots`);
  }
  return name;
}

/**
 * `_INBOX.order` (`_INBOX.acme_order` in a namespace): the private reply-inbox prefix of a
 * process, whose replies only its NATS credentials may subscribe to; under `_INBOX.`, so that
 * whoever answers publishes to `_INBOX.>` and tools that follow `_INBOX.>` see every reply
 * (docs/adr/0030-credentials-from-declarations.md).
 */
export function privateInboxPrefix(name: string, namespace = ""): string {
  return `${DEFAULT_INBOX_PREFIX}.${streamName(namespace, assertToken(name, "process name"))}`;
}

/** The KV bucket of the routing records (ADR 0012): `troupe_routes` (`acme_troupe_routes`). */
export function routesBucketName(namespace = ""): string {
  return streamName(namespace, "troupe_routes");
}

/** The KV bucket of the idempotency guard: `troupe_processed` (`acme_troupe_processed`). */
export function processedBucketName(namespace = ""): string {
  return streamName(namespace, "troupe_processed");
}

/**
 * The KV bucket where instances of keyed services hold their partitions' leases and say they are
 * alive (docs/adr/0032-keyed-virtual-actors.md): `troupe_placement` (`acme_troupe_placement`).
 */
export function placementBucketName(namespace = ""): string {
  return streamName(namespace, "troupe_placement");
}

/**
 * The KV bucket of contract descriptors (docs/adr/0022-contract-descriptors.md): one
 * FileDescriptorSet per SHA-256, `troupe_descriptors` (`acme_troupe_descriptors`).
 */
export function descriptorsBucketName(namespace = ""): string {
  return streamName(namespace, "troupe_descriptors");
}

const KV_KEY = /^[-/_=.A-Za-z0-9]+$/;

/**
 * The guard's key for a message id: `<consumer>.<id>`. An id that cannot stand in a KV key as it
 * is (a caller's own id may hold any character) is base64url-encoded behind a `b64.` token.
 */
export function processedKey(consumer: string, messageId: string): string {
  const plain =
    KV_KEY.test(messageId) &&
    !messageId.startsWith(".") &&
    !messageId.endsWith(".") &&
    !messageId.includes("..") &&
    !messageId.startsWith("b64.");
  const id = plain ? messageId : `b64.${base64Url(messageId)}`;
  return `${consumerName(consumer)}.${id}`;
}

function base64Url(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/**
 * The dead letters of one stream and consumer, of every consumer of a stream (`consumer`
 * undefined), of one consumer name in every stream, or all of them.
 */
export function deadLetterSubjectFilter(
  stream: string | undefined,
  consumer: string | undefined,
  namespace = "",
): string {
  if (stream === undefined && consumer === undefined) return deadLetterFilter(namespace);
  const streamToken = stream === undefined ? "*" : assertToken(stream, "stream");
  const consumerToken = consumer === undefined ? "*" : assertToken(consumer, "consumer");
  return `${namespacePrefix(namespace)}${DEAD_LETTER_PREFIX}.${streamToken}.${consumerToken}`;
}

/**
 * What a Troupe subject carries, read from the subject alone. An RPC subject's service and method
 * cannot be told apart from an instance or version suffix without knowing the services (a package
 * has dots too), so `rpc` keeps the tokens after the prefix (`shop.v1.UserService.GetUser`) for
 * the caller to match against service names (`methodNameOf`).
 */
export type ParsedSubject =
  | { readonly kind: "rpc"; readonly tail: string }
  | { readonly kind: "event"; readonly typeName: string; readonly key: string | undefined }
  | { readonly kind: "job"; readonly typeName: string }
  | { readonly kind: "dead-letter"; readonly stream: string; readonly consumer: string };

/** Reads `subject` under `namespace`; undefined when it is none of the Troupe subjects above. */
export function parseSubject(subject: string, namespace = ""): ParsedSubject | undefined {
  const prefix = namespacePrefix(namespace);
  if (!subject.startsWith(prefix)) return undefined;
  const tokens = subject.slice(prefix.length).split(".");
  if (tokens.some((t) => t === "" || INVALID_TOKEN.test(t))) return undefined;
  const [kind, ...rest] = tokens;
  switch (kind) {
    case RPC_PREFIX:
      // at least a service and a method (a package is optional in protobuf)
      return rest.length >= 2 ? { kind: "rpc", tail: rest.join(".") } : undefined;
    case EVENT_PREFIX: {
      // a message and a key
      if (rest.length < 2) return undefined;
      const key = rest[rest.length - 1];
      return { kind: "event", typeName: rest.slice(0, -1).join("."), key: key === NO_KEY ? undefined : key };
    }
    case JOB_PREFIX:
      return rest.length >= 1 ? { kind: "job", typeName: rest.join(".") } : undefined;
    case DEAD_LETTER_PREFIX: {
      const [stream, consumer] = rest;
      if (rest.length !== 2 || stream === undefined || consumer === undefined) return undefined;
      return { kind: "dead-letter", stream, consumer };
    }
    default:
      return undefined;
  }
}

/**
 * The first tokens of a keyed actor's reminder subjects (runtime/jetstream/reminders.ts, NATS
 * ADR-51 message schedules), under the namespace prefix like every Troupe subject:
 *
 *   troupe.rem.<package>.<Service>.at.<key token>.<name>     the reminder's schedule
 *   troupe.rem.<package>.<Service>.fire.<key token>.<name>   where the stream stores it when due
 */
export const REMINDER_PREFIX = "troupe.rem";
const REMINDER_SCHEDULE = "at";
const REMINDER_FIRED = "fire";

/** The longest key of a keyed actor, in UTF-8 bytes: also a state bucket key and a reminder subject token (ADR 32). */
export const MAX_KEY_BYTES = 256;
/** A key that stands in a subject as it is; any other is `=` and its UTF-8 in unpadded base64url. */
const PLAIN_REMINDER_KEY = /^[A-Za-z0-9_-]{1,128}$/;
const ENCODED_REMINDER_KEY = /^=[A-Za-z0-9_-]+$/;
const REMINDER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The subject token of a reminder's key: the key itself when it matches `[A-Za-z0-9_-]{1,128}`,
 * else `=` followed by the unpadded base64url of its UTF-8 (`=` is in neither alphabet, so the
 * two never meet). Throws for an empty key, one longer than MAX_KEY_BYTES, or one that is
 * not well-formed UTF-16 (a lone surrogate would not come back from its bytes).
 */
export function reminderKeyToken(key: string): string {
  if (PLAIN_REMINDER_KEY.test(key)) return key;
  if (key === "") throw new Error("a reminder's key cannot be empty");
  const bytes = new TextEncoder().encode(key);
  if (bytes.length > MAX_KEY_BYTES) {
    throw new Error(`a reminder's key is ${bytes.length} bytes, more than ${MAX_KEY_BYTES}`);
  }
  if (new TextDecoder().decode(bytes) !== key) throw new Error("a reminder's key is not well-formed Unicode");
  return `=${base64Url(key)}`;
}

/**
 * The key a token of `reminderKeyToken` stands for. Throws for anything `reminderKeyToken` does
 * not make, an encoded key that could stand as it is included, so one key has one subject.
 */
export function keyOfReminderToken(token: string): string {
  if (PLAIN_REMINDER_KEY.test(token)) return token;
  if (ENCODED_REMINDER_KEY.test(token)) {
    let key: string | undefined;
    try {
      const binary = atob(token.slice(1).replaceAll("-", "+").replaceAll("_", "/"));
      key = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    } catch {
      key = undefined;
    }
    if (key !== undefined && key !== "" && !PLAIN_REMINDER_KEY.test(key) && `=${base64Url(key)}` === token) {
      return key;
    }
  }
  throw new Error(`"${token}" is not a reminder key token`);
}

/** Throws unless `name` can name a reminder (`[A-Za-z0-9_-]{1,64}`); returns it. */
export function assertReminderName(name: string): string {
  if (!REMINDER_NAME.test(name)) throw new Error(`reminder name "${name}" must match [A-Za-z0-9_-]{1,64}`);
  return name;
}

/** `troupe.rem.>`: every reminder of a namespace, scheduled or fired (its stream's subjects). */
export function reminderFilter(namespace = ""): string {
  return `${namespacePrefix(namespace)}${REMINDER_PREFIX}.>`;
}

function reminderServicePrefix(service: Pick<DescService, "typeName">, namespace: string): string {
  return `${namespacePrefix(namespace)}${REMINDER_PREFIX}.${service.typeName}`;
}

/** `troupe.rem.shop.v1.CartService.at.<key token>.<name>`: where a reminder's schedule is kept. */
export function reminderScheduleSubject(
  service: Pick<DescService, "typeName">,
  key: string,
  name: string,
  namespace = "",
): string {
  return `${reminderServicePrefix(service, namespace)}.${REMINDER_SCHEDULE}.${reminderKeyToken(key)}.${assertReminderName(name)}`;
}

/** `troupe.rem.shop.v1.CartService.fire.<key token>.<name>`: where the stream stores a reminder when it is due. */
export function reminderFireSubject(
  service: Pick<DescService, "typeName">,
  key: string,
  name: string,
  namespace = "",
): string {
  return `${reminderServicePrefix(service, namespace)}.${REMINDER_FIRED}.${reminderKeyToken(key)}.${assertReminderName(name)}`;
}

/**
 * `troupe.rem.shop.v1.CartService.fire.*.*`: every fired reminder of one service, its consumer's
 * filter. Exactly two tokens after `fire`, so no other service's subjects match it.
 */
export function reminderFireFilter(service: Pick<DescService, "typeName">, namespace = ""): string {
  return `${reminderServicePrefix(service, namespace)}.${REMINDER_FIRED}.*.*`;
}

/** `troupe.rem.shop.v1.CartService.*.<key token>.<name>`: one reminder's schedule and its fired message. */
export function reminderSubjectsOf(
  service: Pick<DescService, "typeName">,
  key: string,
  name: string,
  namespace = "",
): string {
  return `${reminderServicePrefix(service, namespace)}.*.${reminderKeyToken(key)}.${assertReminderName(name)}`;
}

/** The key and name of a fired reminder of `service`; undefined when `subject` is not one. */
export function parseReminderFireSubject(
  subject: string,
  service: Pick<DescService, "typeName">,
  namespace = "",
): { readonly key: string; readonly name: string } | undefined {
  const prefix = `${reminderServicePrefix(service, namespace)}.${REMINDER_FIRED}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const [token, name, ...rest] = subject.slice(prefix.length).split(".");
  if (token === undefined || name === undefined || rest.length > 0 || !REMINDER_NAME.test(name)) {
    return undefined;
  }
  try {
    return { key: keyOfReminderToken(token), name };
  } catch {
    return undefined;
  }
}

/** The stream of a namespace's reminders: `TROUPE_REMINDERS` (`acme_TROUPE_REMINDERS`). */
export function reminderStreamName(namespace = ""): string {
  return streamName(namespace, "TROUPE_REMINDERS");
}

/** The durable consumer of one service's fired reminders: `reminders_shop_v1_CartService`. */
export function reminderConsumerName(service: Pick<DescService, "typeName">): string {
  return consumerName(`reminders_${service.typeName.replaceAll(".", "_")}`);
}
