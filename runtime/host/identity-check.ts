/**
 * The host's check of the identity a call carries (docs/adr/0030-credentials-from-declarations.md):
 * with the gateway's public keys configured, a call that carries identity headers must carry
 * the gateway's signature of them, for this method and not expired; otherwise it is refused
 * `unauthenticated` before the handler runs, so that `callerIdentity` only ever returns an
 * identity the gateway verified. A call without identity headers is a call from inside the system
 * (NATS permissions decide who may make it) and goes on.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { MsgHdrs } from "@nats-io/nats-core";
import { Header } from "../protocol/headers.ts";
import { methodPath } from "../protocol/subjects.ts";
import { createIdentityVerifier } from "../security/identity-signature.ts";

/** Checks a call's identity headers; returns the refusal, or undefined when the call may go on. */
export type IdentityCheck = (method: DescMethod, headers: MsgHdrs | undefined) => ConnectError | undefined;

/** The check for `publicKeys` (the gateway's, `N…`/`U…` nkeys), or undefined when there are none. */
export function createIdentityCheck(publicKeys: readonly string[]): IdentityCheck | undefined {
  if (publicKeys.length === 0) return undefined;
  const verify = createIdentityVerifier(publicKeys);
  return (method, headers) => {
    const subject = headers?.get(Header.authSubject) ?? "";
    const claims = headers?.get(Header.authClaims) ?? "";
    // No identity: a call from inside the system. Claims alone are refused like any unsigned identity.
    if (subject === "" && claims === "") return undefined;
    const signed = { method: methodPath(method), subject, claims };
    const why = verify(signed, headers?.get(Header.authSignature) ?? null);
    return why === undefined
      ? undefined
      : new ConnectError(`the caller identity is not honoured: ${why}`, Code.Unauthenticated);
  };
}
