/**
 * A create-only write that tells who won: the inventory's records that are written once and
 * then only read (a reservation's items, its outcome, an adjustment's record) are claimed with it,
 * so concurrent attempts agree on one value.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { StateStore } from "../../runtime/jetstream/state-store.ts";

/** Writes `value` under `key` unless the key has a value; returns the value the key has. */
export async function claimKey<Desc extends DescMessage>(
  store: StateStore<Desc>,
  key: string,
  value: MessageShape<Desc>,
): Promise<MessageShape<Desc>> {
  try {
    await store.put(key, value, { expectedRevision: 0 });
    return value;
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  const holder = await store.get(key);
  // These records are never deleted: were one gone, the caller tries again.
  if (holder === undefined) throw new ConnectError(`${store.bucket}: "${key}" vanished`, Code.Aborted);
  return holder.value;
}

/** The state store's answer to a write whose expected revision did not match. */
export function isConflict(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Aborted;
}
