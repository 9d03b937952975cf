/**
 * Keyed services on the wire (docs/adr/0032-keyed-virtual-actors.md). A service whose contract
 * carries `option (troupe.v1.keyed) = {key_field: "cart_id"}` is a virtual actor per key: the
 * key is the request's `key_field`, it hashes (FNV-1a, 32 bits, of its UTF-8 bytes) into one of
 * `partitions` partitions, and a call goes to the subject of its partition,
 *
 *   rpc.<package>.<Service>.<Method>.p.<partition>
 *
 * where only the instance that owns the partition listens. Callers and actors compute the same
 * partition from the contract alone, so no placement table is read on the way.
 */
import {
  type DescMessage,
  type DescMethod,
  type DescService,
  getOption,
  hasOption,
  ScalarType,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { keyed as keyedOption } from "../gen/troupe/v1/options_pb.ts";
import { MAX_KEY_BYTES, rpcMethodSubject, rpcServiceSubject } from "./subjects.ts";

export { MAX_KEY_BYTES };

/** The partitions of a keyed service whose contract names none. */
export const DEFAULT_PARTITIONS = 32;
/** The most partitions a keyed service may have: each owned one is a subscription and a lease. */
export const MAX_PARTITIONS = 4_096;

/** How a keyed service's calls find their actor. */
export interface KeyedContract {
  readonly service: DescService;
  /** The request field (proto name) holding the key. */
  readonly keyField: string;
  readonly partitions: number;
  /** Each method's request field that holds the key, by method. */
  readonly keyOf: (method: DescMethod, request: object) => string;
}

const contracts = new WeakMap<DescService, KeyedContract | null>();

/**
 * The keyed contract of `service`, or undefined when it is a plain service. Throws when the
 * option is inconsistent (a method without the key field, a field that is not a string): a
 * contract mistake fails at the first use, naming the method.
 */
export function keyedContractOf(service: DescService): KeyedContract | undefined {
  const known = contracts.get(service);
  if (known !== undefined) return known ?? undefined;
  if (!hasOption(service, keyedOption)) {
    contracts.set(service, null);
    return undefined;
  }
  const option = getOption(service, keyedOption);
  const partitions = option.partitions === 0 ? DEFAULT_PARTITIONS : option.partitions;
  if (option.keyField === "") throw new Error(`${service.typeName}: (troupe.v1.keyed) needs a key_field`);
  if (partitions > MAX_PARTITIONS) {
    throw new Error(`${service.typeName}: (troupe.v1.keyed) partitions ${partitions} > ${MAX_PARTITIONS}`);
  }
  const fields = new Map<DescMethod, string>();
  for (const method of service.methods) fields.set(method, keyFieldOf(method.input, option.keyField, method));
  const contract: KeyedContract = {
    service,
    keyField: option.keyField,
    partitions,
    keyOf(method, request) {
      const field = fields.get(method);
      if (field === undefined) throw new Error(`${method.name} is not a method of ${service.typeName}`);
      const key = (request as Record<string, unknown>)[field];
      return typeof key === "string" ? key : "";
    },
  };
  contracts.set(service, contract);
  return contract;
}

function keyFieldOf(input: DescMessage, keyField: string, method: DescMethod): string {
  const field = input.fields.find((f) => f.name === keyField);
  if (field === undefined || field.fieldKind !== "scalar" || field.scalar !== ScalarType.STRING) {
    throw new Error(
      `${method.parent.typeName}/${method.name}: its request ${input.typeName} has no string field "${keyField}", the service's (troupe.v1.keyed) key_field`,
    );
  }
  return field.localName;
}

/** Throws `invalid_argument` unless `key` can name an actor; returns it. */
export function checkActorKey(key: string, contract: KeyedContract): string {
  if (key === "") {
    throw new ConnectError(
      `${contract.service.typeName}: the request's ${contract.keyField} (the actor's key) is empty`,
      Code.InvalidArgument,
    );
  }
  if (utf8Length(key) > MAX_KEY_BYTES) {
    throw new ConnectError(
      `${contract.service.typeName}: the key in ${contract.keyField} is longer than ${MAX_KEY_BYTES} bytes`,
      Code.InvalidArgument,
    );
  }
  return key;
}

/** The partition of `key`: FNV-1a (32 bits) of its UTF-8 bytes, modulo `partitions`. */
export function partitionOf(key: string, partitions: number): number {
  // The UTF-8 bytes are hashed as they are produced, without encoding the key into a buffer.
  let hash = 0x811c9dc5;
  const byte = (b: number) => {
    hash = Math.imul(hash ^ b, 0x01000193);
  };
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      byte(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < key.length) {
      const low = key.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as TextEncoder writes it
    if (c < 0x800) {
      byte(0xc0 | (c >> 6));
    } else if (c < 0x10000) {
      byte(0xe0 | (c >> 12));
      byte(0x80 | ((c >> 6) & 0x3f));
    } else {
      byte(0xf0 | (c >> 18));
      byte(0x80 | ((c >> 12) & 0x3f));
      byte(0x80 | ((c >> 6) & 0x3f));
    }
    byte(0x80 | (c & 0x3f));
  }
  return (hash >>> 0) % partitions;
}

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  return text.length * 3 <= MAX_KEY_BYTES ? text.length : encoder.encode(text).length;
}

/** `rpc.<package>.<Service>.<Method>.p.<partition>`: where the owner of the partition listens. */
export function rpcPartitionSubject(method: DescMethod, partition: number, namespace = ""): string {
  return `${rpcMethodSubject(method, namespace)}.p.${partition}`;
}

/** `rpc.<package>.<Service>.*.p.<partition>`: what the owner of a partition subscribes to. */
export function rpcPartitionWildcard(service: DescService, partition: number, namespace = ""): string {
  return `${rpcServiceSubject(service, namespace)}.*.p.${partition}`;
}

/**
 * The method token of a reminder's turn on a partition's subject: `$` keeps it apart from every
 * proto method name.
 */
export const REMINDER_METHOD = "$reminder";

/** `rpc.<package>.<Service>.$reminder.p.<partition>`: where a fired reminder's turn is asked of the owner. */
export function rpcReminderSubject(service: DescService, partition: number, namespace = ""): string {
  return `${rpcServiceSubject(service, namespace)}.${REMINDER_METHOD}.p.${partition}`;
}

/** The partition a subject names (`….p.<n>`), or undefined for any other RPC subject. */
export function partitionOfSubject(subject: string): number | undefined {
  const at = subject.lastIndexOf(".p.");
  if (at === -1) return undefined;
  const token = subject.slice(at + 3);
  return /^\d+$/.test(token) ? Number(token) : undefined;
}
