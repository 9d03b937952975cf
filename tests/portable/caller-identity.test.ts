/**
 * callerIdentity (troupe/host): what a handler reads of the identity the gateway forwards in
 * `troupe-auth-subject` and `troupe-auth-claims` (runtime/gateway/gate.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { callerIdentity } from "troupe/host";
import { Header } from "troupe/protocol";

const context = (headers: Record<string, string>) => ({ requestHeader: new Headers(headers) });

test("the subject and claims the gateway forwarded; none for an internal call", () => {
  assert.deepEqual(
    callerIdentity(
      context({ [Header.authSubject]: "u-ada", [Header.authClaims]: '{"sub":"u-ada","scope":"orders"}' }),
    ),
    { subject: "u-ada", claims: { sub: "u-ada", scope: "orders" } },
  );
  assert.deepEqual(callerIdentity(context({ [Header.authSubject]: "u-ada" })), {
    subject: "u-ada",
    claims: { sub: "u-ada" },
  });
  assert.equal(callerIdentity(context({})), undefined, "no identity: a call from inside");
  assert.equal(callerIdentity(context({ [Header.authClaims]: "{}" })), undefined, "claims without a subject");
});

test("claims that are not a JSON object are invalid_argument", () => {
  for (const claims of ["not json", "[1]", "null", '"text"']) {
    const error = (() => {
      try {
        callerIdentity(context({ [Header.authSubject]: "u-ada", [Header.authClaims]: claims }));
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    assert.ok(error instanceof ConnectError, claims);
    assert.equal(error.code, Code.InvalidArgument, claims);
  }
});
