/**
 * The customer a call is made for, where a request names one (`user_id`): through the gateway,
 * the caller's verified identity (callerIdentity, troupe/host). The contracts say so: a
 * `user_id` left empty is the caller's own, and another user's is `permission_denied`. A call
 * from inside the shop (no identity) names the user it acts for.
 */
import type { HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { callerIdentity } from "troupe/host";

/** `requested` (the request's `user_id`), or the caller's identity when it is empty; "" when neither. */
export function userOfCall(requested: string, context: Pick<HandlerContext, "requestHeader">): string {
  const caller = callerIdentity(context)?.subject;
  if (caller === undefined) return requested;
  if (requested === "") return caller;
  if (requested !== caller) {
    throw new ConnectError(`user_id "${requested}" is not the authenticated caller`, Code.PermissionDenied);
  }
  return requested;
}
