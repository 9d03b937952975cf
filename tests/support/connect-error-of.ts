import assert from "node:assert/strict";
import { ConnectError } from "@connectrpc/connect";

/** The ConnectError a call fails with; fails the test if it succeeds or fails otherwise. */
export async function connectErrorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the call to fail");
}
