/**
 * Whose cart a call may use (shop/v1/cart.proto): a cart's id is its customer's user id. A call
 * through the gateway carries the caller's verified identity (callerIdentity, troupe/host) and
 * may use that customer's cart only; a call from inside the shop carries none and may use any,
 * as everywhere in the shop (actors/shared/user-of-call.ts).
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { callerIdentity } from "troupe/host";

/** Throws `permission_denied` when the call's authenticated caller is not the customer `cartId` belongs to. */
export function checkCartOwner(
  cartId: string,
  context: Pick<HandlerContext, "requestHeader"> | undefined,
): void {
  const caller = context === undefined ? undefined : callerIdentity(context)?.subject;
  if (caller !== undefined && caller !== cartId) {
    throw new ConnectError(
      `cart "${cartId}" is not the authenticated caller's: a customer's cart id is their user id`,
      Code.PermissionDenied,
    );
  }
}
