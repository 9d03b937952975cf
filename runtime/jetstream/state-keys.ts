/**
 * Names in a state store: bucket names and keys. A bucket is a JetStream stream (`KV_<bucket>`),
 * so its name follows the stream naming of ADR 0007 (namespace first, `_`-joined); a key is the
 * tail of a subject (`$KV.<bucket>.<key>`), so it is one or more dot-separated tokens.
 */
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { stateBucketName } from "../protocol/subjects.ts";

export { stateBucketName };

// The characters the NATS KV clients accept in a key token (ADR-8); `.` separates tokens.
const KEY = /^[A-Za-z0-9_=/-]+(\.[A-Za-z0-9_=/-]+)*$/;
const KEY_FILTER = /^([A-Za-z0-9_=/-]+|\*)(\.([A-Za-z0-9_=/-]+|\*))*(\.>)?$|^>$/;
/** Keys starting with `_kv` are reserved by NATS KV (ADR-8). */
const RESERVED = /^_kv/i;

/** True when `key` can name a value in a state store. */
export function isStateKey(key: string): boolean {
  return KEY.test(key) && !RESERVED.test(key);
}

/** Throws `invalid_argument` unless `key` can name a value; returns it. */
export function checkStateKey(key: string, bucket: string): string {
  if (!isStateKey(key)) {
    throw new ConnectError(
      `"${key}" cannot be a key of state bucket ${bucket}: use dot-separated tokens of [A-Za-z0-9_=/-]`,
      Code.InvalidArgument,
    );
  }
  return key;
}

/** Throws `invalid_argument` unless `filter` is a key or a key with `*` and `>` wildcards. */
export function checkStateKeyFilter(filter: string, bucket: string): string {
  if (!KEY_FILTER.test(filter)) {
    throw new ConnectError(
      `"${filter}" cannot filter the keys of state bucket ${bucket}: use keys with * and > wildcards`,
      Code.InvalidArgument,
    );
  }
  return filter;
}

const encoder = new TextEncoder();

/**
 * A key token for any non-empty text (an email, a client-chosen idempotency key): its UTF-8 bytes
 * in unpadded base64url, which only uses characters a key allows and never contains a dot.
 */
export function stateKeyOf(text: string): string {
  if (text === "") throw new RangeError("stateKeyOf: the text must not be empty");
  return base64Encode(encoder.encode(text), "url");
}
