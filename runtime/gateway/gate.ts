/**
 * The gateway's door: decides whether a call from outside may reach its method, and builds the
 * only headers that go on to the actor. Every protocol passes through it (REST, Connect,
 * gRPC-Web, gRPC), so the rules are in one place (docs/adr/0008-gateway.md):
 *
 * - a method the contract does not mark public is refused with `permission_denied`;
 * - a method marked `auth_required` needs a verified JWT (`unauthenticated` otherwise), whose
 *   subject and claims are forwarded as `troupe-auth-subject` / `troupe-auth-claims`;
 * - of the caller's headers only an allow-list goes on (trace context, the request id, and
 *   what `forwardHeaders` names); `authorization`, cookies and every `troupe-auth-*` header a
 *   caller sends are dropped, so identity cannot be spoofed.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { GATEWAY_IDENTITY_HEADER_PREFIX, Header } from "../protocol/headers.ts";
import type { SignedIdentity } from "../security/identity-signature.ts";
import type { Authenticator } from "./authenticate.ts";
import { methodExposure, methodPath } from "./method-exposure.ts";

/**
 * Caller headers forwarded by default: W3C trace context and baggage, the version pin
 * (docs/adr/0012-discovery-direct-calls-and-traffic.md), so a canary can be tried from outside,
 * and `Idempotency-Key`, so a client's retry of a keyed actor's call is answered, not applied
 * twice (docs/adr/0032-keyed-virtual-actors.md).
 */
export const DEFAULT_FORWARD_HEADERS: readonly string[] = [
  Header.traceparent,
  Header.tracestate,
  Header.baggage,
  Header.version,
  Header.idempotencyKey,
];

export interface GateOptions {
  /** Verifies bearer tokens; undefined when no key is configured (then no method may require one). */
  readonly authenticate: Authenticator | undefined;
  /** Caller headers (lower case) forwarded to the actor besides the request id. */
  readonly forwardHeaders: readonly string[];
  /** Signs the identity forwarded for a method (runtime/security/identity-signature.ts); undefined: unsigned. */
  readonly signIdentity: ((identity: SignedIdentity) => string) | undefined;
}

/**
 * Admits a call or throws its refusal as a ConnectError; resolves with the headers to send to
 * the actor. `requestId` is the id the gateway answers with.
 */
export type Gate = (method: DescMethod, callerHeader: Headers, requestId: string) => Promise<Headers>;

/** The refusal of a method the contract does not mark public. */
export function notPublic(method: DescMethod): ConnectError {
  return new ConnectError(
    `${methodPath(method)} is not public: it cannot be called through the gateway`,
    Code.PermissionDenied,
  );
}

export function createGate(options: GateOptions): Gate {
  const forward = options.forwardHeaders
    .map((name) => name.toLowerCase())
    .filter((name) => !name.startsWith(GATEWAY_IDENTITY_HEADER_PREFIX) && name !== Header.authorization);
  return async (method, callerHeader, requestId) => {
    const exposure = methodExposure(method);
    if (!exposure.public) throw notPublic(method);
    const header = new Headers();
    for (const name of forward) {
      const value = callerHeader.get(name);
      if (value !== null) header.set(name, value);
    }
    header.set(Header.requestId, requestId);
    if (exposure.authRequired) {
      if (options.authenticate === undefined) {
        throw new ConnectError(
          `${methodPath(method)} requires authentication, which this gateway is not configured for`,
          Code.Unauthenticated,
        );
      }
      const identity = await options.authenticate(callerHeader.get(Header.authorization));
      const claims = JSON.stringify(identity.claims);
      header.set(Header.authSubject, identity.subject);
      header.set(Header.authClaims, claims);
      if (options.signIdentity !== undefined) {
        const signed = { method: methodPath(method), subject: identity.subject, claims };
        header.set(Header.authSignature, options.signIdentity(signed));
      }
    }
    return header;
  };
}
