import { Code, ConnectError } from "@connectrpc/connect";

/** The state store's answer to a write whose expected revision did not match. */
export function isConflict(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Aborted;
}
