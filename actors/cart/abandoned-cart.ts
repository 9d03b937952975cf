/**
 * The abandoned-cart reminder (shop/v1/cart.proto). Every change that leaves a cart non-empty sets
 * the cart's durable reminder "abandoned" (`turn.remind`: a JetStream message schedule, so it
 * fires even if every instance restarted meanwhile), due the abandonment time later, with the
 * cart's generation and revision as its payload; the next change replaces it, and emptying the
 * cart or checking it out cancels it.
 *
 * When it fires, the cart is reminded only if it is still at that generation and revision (left
 * unchanged since) and not empty: the customer is looked up (UserService.GetUser, the cart id
 * being the user id) and a SendCartReminder job is enqueued for the email actor. The email goes
 * out once per cart, generation and revision, whatever is repeated on the way: the email actor
 * sends once per dedupe key (actors/email/cart-reminder.ts), and the job's message id makes the
 * stream drop a second copy of it when the reminder's turn runs again (a turn that throws is
 * tried again later).
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { Logger, Turn } from "troupe";
import {
  AbandonedCartReminderSchema,
  type CartStateSchema,
} from "../../proto/gen/shop/cart/state/v1/cart_state_pb.ts";
import type { SendCartReminderSchema } from "../../proto/gen/shop/v1/email_pb.ts";
import type { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { subtotalOf, unitsOf } from "./cart-lines.ts";

/** The name of a cart's abandonment reminder. */
export const ABANDONED = "abandoned";

type CartTurn = Turn<typeof CartStateSchema>;

/** After a change: (re)sets the reminder of a non-empty cart, cancels that of an empty one. */
export async function watchAbandonment(turn: CartTurn, afterMs: number): Promise<void> {
  const { lines, generation, revision } = turn.state;
  if (lines.length === 0) {
    await turn.forget(ABANDONED);
    return;
  }
  const left = create(AbandonedCartReminderSchema, { generation, revision });
  await turn.remind(ABANDONED, afterMs, toBinary(AbandonedCartReminderSchema, left));
}

/** The message id of the SendCartReminder job of one abandonment. */
export function cartReminderJobIdOf(cartId: string, generation: bigint, revision: bigint): string {
  return `cart-reminder-${cartId}-g${generation}-r${revision}`;
}

export interface AbandonedCartDeps {
  readonly users: Client<typeof UserService>;
  readonly enqueue: (init: MessageInitShape<typeof SendCartReminderSchema>, id: string) => Promise<unknown>;
  readonly logger: Logger;
}

/**
 * The turn of a fired reminder: enqueues the reminder mail when the cart was left as the
 * reminder says. A customer who no longer exists gets none; other failures throw, so the
 * reminder's turn is tried again.
 */
export async function remindAbandoned(
  reminder: { readonly name: string; readonly payload: Uint8Array },
  turn: CartTurn,
  deps: AbandonedCartDeps,
): Promise<void> {
  if (reminder.name !== ABANDONED) return;
  const left = fromBinary(AbandonedCartReminderSchema, reminder.payload);
  const { lines, generation, revision } = turn.state;
  if (lines.length === 0 || generation !== left.generation || revision !== left.revision) return;
  let user: Awaited<ReturnType<AbandonedCartDeps["users"]["getUser"]>>["user"];
  try {
    ({ user } = await deps.users.getUser({ id: turn.key }));
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.NotFound) {
      deps.logger.log("warn", "an abandoned cart's customer does not exist: no reminder", { cart: turn.key });
      return;
    }
    throw err;
  }
  if (user === undefined) throw new ConnectError(`GetUser("${turn.key}") answered no user`, Code.Internal);
  await deps.enqueue(
    {
      cartId: turn.key,
      userId: user.id,
      to: user.email,
      displayName: user.displayName,
      generation,
      revision,
      itemCount: unitsOf(lines),
      subtotal: subtotalOf(lines),
    },
    cartReminderJobIdOf(turn.key, generation, revision),
  );
}
