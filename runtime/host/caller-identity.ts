/**
 * Who made the call a handler serves, as the gateway verified it: the gateway checks the bearer
 * token of every method marked `auth_required` and forwards the token's subject and claims as
 * the headers `troupe-auth-subject` and `troupe-auth-claims` (runtime/gateway/gate.ts), after
 * removing any such header a caller sent (docs/adr/0008-gateway.md). A handler reads them here:
 *
 *   async placeOrder(request, context) {
 *     const userId = request.userId || callerIdentity(context)?.subject;
 *
 * A call from inside the system (another actor, a tool on the NATS connection) has no identity
 * unless its caller set the headers: inside, NATS permissions decide who may call what, and an
 * actor that forwards a call on a user's behalf may pass the identity on as metadata.
 */
import type { HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Header } from "../protocol/headers.ts";

/** The authenticated caller of a call: the JWT's `sub` and all its claims. */
export interface CallerIdentity {
  readonly subject: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * The identity the gateway forwarded with the call, or undefined when there is none (an internal
 * call, or a public method that needs no token). Claims that are not a JSON object are
 * `invalid_argument`: only a caller inside the system can send them, and it sent them wrong.
 */
export function callerIdentity(context: Pick<HandlerContext, "requestHeader">): CallerIdentity | undefined {
  const header = context.requestHeader;
  const subject = header.get(Header.authSubject);
  if (subject === null || subject === "") return undefined;
  const raw = header.get(Header.authClaims);
  if (raw === null || raw === "") return { subject, claims: { sub: subject } };
  let claims: unknown;
  try {
    claims = JSON.parse(raw);
  } catch {
    claims = undefined;
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw new ConnectError(`${Header.authClaims} is not a JSON object`, Code.InvalidArgument);
  }
  return { subject, claims: claims as Record<string, unknown> };
}
