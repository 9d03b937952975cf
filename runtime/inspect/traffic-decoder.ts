/**
 * Decodes Troupe traffic to JSON with the contracts the running services publish
 * (docs/adr/0022-contract-descriptors.md), so a tool needs no `.proto` files: the subject says
 * what a message is (`rpc.<Service>.<Method>` a request or its reply, `evt.<Message>.<key>`,
 * `job.<Message>`, `dlq.<stream>.<consumer>` a dead letter whose headers name its original
 * subject), `$SRV.INFO` says which descriptor sets the instances have (`troupe.descriptors`,
 * `troupe.descriptors.bucket`), and the descriptors bucket holds each set by its hash.
 *
 *   const decoder = createTrafficDecoder(nc, { namespace: "acme" });
 *   for await (const msg of nc.subscribe("acme.evt.>")) console.log((await decoder.decode(msg)).json);
 *
 * A set, once read, is kept for the decoder's life (it is named by its content, so it never
 * changes); the instances are asked again only when no set they named knows a subject's type.
 */
import { type DescMessage, type FileRegistry, type JsonValue, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { serviceInfos } from "../discovery/discover.ts";
import { NO_DESCRIPTORS_BUCKET, ServiceMetadata } from "../discovery/metadata-keys.ts";
import { readDeadLetterOrigin } from "../jetstream/dead-letter-envelope.ts";
import { codecOf, decodeMessage } from "../protocol/codec.ts";
import { descriptorReference, hashOfReference } from "../protocol/descriptor-set.ts";
import { Header } from "../protocol/headers.ts";
import { type ParsedSubject, parseSubject, VERSION_MARKER } from "../protocol/subjects.ts";
import { readDescriptorRegistry } from "./descriptor-registry.ts";

export interface TrafficDecoderOptions {
  /** The namespace the subjects are under ("" for none). */
  readonly namespace: string;
  /** How long discovery waits for the first `$SRV.INFO` reply. */
  readonly timeoutMs: number;
  /** After a reply, how long discovery waits for another. */
  readonly stallMs: number;
}

export const defaultTrafficDecoderOptions: TrafficDecoderOptions = {
  namespace: "",
  timeoutMs: 2_000,
  stallMs: 300,
};

/** A message as NATS delivers it (a `Msg` is one). */
export interface TrafficMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Needed for dead letters (they name their original subject there) and replies. */
  readonly headers?: MsgHdrs | undefined;
}

export interface DecodeOptions {
  /** The message is the reply to a request on `subject` (an RPC reply arrives on an inbox). */
  readonly response: boolean;
}

export type DecodedKind = "request" | "response" | "event" | "job" | "dead-letter";

/** Where a dead letter came from (its `troupe-dlq-*` headers). */
export interface DecodedDeadLetter {
  /** The subject the message was published on, and what it was there. */
  readonly subject: string;
  readonly kind: "event" | "job";
  readonly stream: string;
  readonly consumer: string;
  /** Why it was given up: a Connect code (`internal`, `deadline_exceeded`, …) and the error. */
  readonly code: string;
  readonly error: string;
  readonly deliveryCount: number;
}

export interface DecodedMessage {
  readonly subject: string;
  readonly kind: DecodedKind;
  /** The message type: `shop.v1.GetUserRequest`. For a dead letter, the original message's. */
  readonly typeName: string;
  /** For a request or response: the method, `shop.v1.UserService.GetUser`. */
  readonly method: string | undefined;
  /** The message in the protobuf JSON mapping (for a dead letter, the original message). */
  readonly json: JsonValue;
  /** The descriptor set that decoded it: `sha256:<hex>`. */
  readonly descriptors: string;
  /** For a dead letter: where it came from and why it was given up. */
  readonly deadLetter: DecodedDeadLetter | undefined;
}

export interface TrafficDecoder {
  /**
   * The message as JSON. Fails with `invalid_argument` for a subject that is not a Troupe
   * subject, a dead letter without its headers, or a payload that is not a message of its type;
   * with `not_found` when no running instance's descriptors know the subject's type.
   */
  decode(message: TrafficMessage, options?: Partial<DecodeOptions>): Promise<DecodedMessage>;
}

/** One instance's descriptors, as its `$SRV.INFO` names them. */
interface Source {
  readonly instance: string;
  readonly hash: string;
  readonly bucket: string;
  readonly services: readonly string[];
}

/** A type the decoder looks for, and how to find it in a registry. */
interface Wanted {
  readonly what: string;
  /** Instances that likely have it are read first. */
  prefer(source: Source): boolean;
  pick(registry: FileRegistry): Found | undefined;
}

interface Found {
  readonly typeName: string;
  readonly method: string | undefined;
  readonly schema: DescMessage;
  /** For `google.protobuf.Any` fields: the types they may hold. */
  readonly registry: FileRegistry;
}

export function createTrafficDecoder(
  nc: NatsConnection,
  partial: Partial<TrafficDecoderOptions> = {},
): TrafficDecoder {
  const options = { ...defaultTrafficDecoderOptions, ...partial };
  const registries = new Map<string, Promise<FileRegistry>>();
  let sources: Promise<Source[]> | undefined;

  const discover = async (): Promise<Source[]> => {
    const infos = await serviceInfos(nc, { timeoutMs: options.timeoutMs, stallMs: options.stallMs });
    return infos.flatMap((info) => {
      const hash = hashOfReference(info.metadata[ServiceMetadata.descriptors]);
      const bucket = info.metadata[ServiceMetadata.descriptorsBucket] ?? "";
      if (hash === undefined) return [];
      const services = (info.metadata[ServiceMetadata.services] ?? "").split(",").filter((s) => s !== "");
      return [{ instance: `${info.name}/${info.id}`, hash, bucket, services }];
    });
  };

  const registryOf = (source: Source): Promise<FileRegistry> => {
    let registry = registries.get(source.hash);
    if (registry === undefined) {
      registry = readDescriptorRegistry(nc, source);
      registries.set(source.hash, registry);
      // A failed read (JetStream away) is tried again next time.
      registry.catch(() => registries.delete(source.hash));
    }
    return registry;
  };

  const find = async (wanted: Wanted): Promise<Found & { readonly hash: string }> => {
    const problems: string[] = [];
    let asked = 0;
    for (const fresh of [sources === undefined, true]) {
      if (fresh) sources = discover();
      const all = await (sources as Promise<Source[]>);
      asked = all.length;
      problems.length = 0;
      const tried = new Set<string>();
      for (const source of [...all.filter(wanted.prefer), ...all.filter((s) => !wanted.prefer(s))]) {
        if (tried.has(source.hash)) continue;
        tried.add(source.hash);
        if (source.bucket === NO_DESCRIPTORS_BUCKET) {
          problems.push(`${source.instance} runs without JetStream, so its descriptors are stored nowhere`);
          continue;
        }
        try {
          const found = wanted.pick(await registryOf(source));
          if (found !== undefined) return { ...found, hash: source.hash };
        } catch (err) {
          problems.push(err instanceof Error ? err.message : String(err));
        }
      }
      if (fresh) break;
    }
    const why = problems.length === 0 ? "" : `; ${problems.join("; ")}`;
    throw new ConnectError(
      `no running service describes ${wanted.what} (${asked} instance${asked === 1 ? "" : "s"} name descriptors${why})`,
      Code.NotFound,
    );
  };

  return {
    async decode(message, decodeOptions = {}) {
      const parsed = parseSubject(message.subject, options.namespace);
      if (parsed === undefined) {
        const under = options.namespace === "" ? "" : ` under namespace "${options.namespace}"`;
        throw new ConnectError(
          `${message.subject} is not a Troupe subject${under} (rpc.*, evt.*, job.*, dlq.*)`,
          Code.InvalidArgument,
        );
      }
      if (parsed.kind === "dead-letter") {
        const origin = readDeadLetterOrigin(message.headers);
        const original = origin === undefined ? undefined : parseSubject(origin.subject, options.namespace);
        if (
          origin === undefined ||
          original === undefined ||
          (original.kind !== "event" && original.kind !== "job")
        ) {
          throw new ConnectError(
            `${message.subject} is a dead letter, but its headers do not name the event or job it carries ` +
              `(${Header.deadLetterSubject}: ${origin?.subject ?? "absent"})`,
            Code.InvalidArgument,
          );
        }
        const found = await find(messageWanted(original.typeName, origin.subject));
        return {
          ...decoded(message, "dead-letter", found),
          deadLetter: {
            subject: origin.subject,
            kind: original.kind,
            stream: origin.stream,
            consumer: origin.consumer,
            code: message.headers?.get(Header.deadLetterCode) ?? "",
            error: origin.error,
            deliveryCount: origin.deliveryCount,
          },
        };
      }
      if (parsed.kind === "rpc") {
        const response = decodeOptions.response === true;
        const errorCode = message.headers?.get(Header.serviceErrorCode) ?? "";
        if (response && errorCode !== "") {
          throw new ConnectError(
            `the reply to ${message.subject} is an error (${errorCode}: ${message.headers?.get(Header.serviceError) ?? ""}), not a message`,
            Code.InvalidArgument,
          );
        }
        const found = await find(methodWanted(parsed.tail, message.subject, response));
        return decoded(message, response ? "response" : "request", found);
      }
      const found = await find(messageWanted(parsed.typeName, message.subject));
      return decoded(message, kindOf(parsed), found);
    },
  };
}

/** One message decoded with a fresh decoder (for many, keep a `createTrafficDecoder`). */
export function decodeTraffic(
  nc: NatsConnection,
  message: TrafficMessage,
  options: Partial<TrafficDecoderOptions & DecodeOptions> = {},
): Promise<DecodedMessage> {
  const { response, ...decoderOptions } = options;
  return createTrafficDecoder(nc, decoderOptions).decode(message, response === undefined ? {} : { response });
}

function decoded(message: TrafficMessage, kind: DecodedKind, found: Found & { readonly hash: string }) {
  const codec = codecOf(message.headers?.get(Header.contentType), message.data) ?? "proto";
  const value = decodeMessage(found.schema, codec, message.data);
  return {
    subject: message.subject,
    kind,
    typeName: found.typeName,
    method: found.method,
    json: toJson(found.schema, value, { registry: found.registry }),
    descriptors: descriptorReference(found.hash),
    deadLetter: undefined,
  } satisfies DecodedMessage;
}

function kindOf(parsed: ParsedSubject): DecodedKind {
  return parsed.kind === "event" ? "event" : "job";
}

function messageWanted(typeName: string, subject: string): Wanted {
  return {
    what: `${typeName} (the type of ${subject})`,
    prefer: () => true,
    pick(registry) {
      const schema = registry.getMessage(typeName);
      return schema === undefined ? undefined : { typeName, method: undefined, schema, registry };
    },
  };
}

/**
 * The method of `rpc.<tail>`: a service name and a method name, then nothing, an instance id or
 * `v.<version>`. Every split of the tail is tried, since a package has dots as well.
 */
function methodWanted(tail: string, subject: string, response: boolean): Wanted {
  const tokens = tail.split(".");
  const splits: { service: string; method: string }[] = [];
  for (let end = 1; end < tokens.length; end++) {
    const suffix = tokens.slice(end + 1);
    const fits =
      suffix.length === 0 || suffix.length === 1 || (suffix.length === 2 && suffix[0] === VERSION_MARKER);
    if (fits) splits.push({ service: tokens.slice(0, end).join("."), method: tokens[end] ?? "" });
  }
  return {
    what: `the method of ${subject}`,
    prefer: (source) => splits.some((s) => source.services.includes(s.service)),
    pick(registry) {
      for (const split of splits) {
        const method = registry.getService(split.service)?.methods.find((m) => m.name === split.method);
        if (method === undefined) continue;
        const schema = response ? method.output : method.input;
        return { typeName: schema.typeName, method: `${split.service}.${split.method}`, schema, registry };
      }
      return undefined;
    },
  };
}
