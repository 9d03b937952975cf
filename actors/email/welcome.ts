/**
 * The welcome email for a new account (shop.v1.UserRegistered): the email actor's handler of
 * that event (actor.ts subscribes it). One welcome per user: the dedupe key is the user id, so a
 * redelivered or republished event (at least once) sends nothing new, on any instance.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { EmailTemplate } from "../../proto/gen/shop/v1/email_pb.ts";
import type { UserRegistered } from "../../proto/gen/shop/v1/user_pb.ts";
import type { Mailer, OutgoingEmail, SentEmail } from "./mailer.ts";
import { renderEmail } from "./templates.ts";

/** The welcome email for `event`, rendered; `invalid_argument` for an event without a user id or name. */
export function welcomeMailFor(event: UserRegistered): OutgoingEmail {
  if (event.userId === "") throw new ConnectError("UserRegistered has no user_id", Code.InvalidArgument);
  return {
    dedupeKey: `welcome:${event.userId}`,
    to: event.email,
    template: EmailTemplate.WELCOME,
    userId: event.userId,
    ...renderEmail(EmailTemplate.WELCOME, { display_name: event.displayName }),
  };
}

/** Sends the welcome email for `event`, once per user. */
export async function sendWelcome(mailer: Mailer, event: UserRegistered): Promise<SentEmail> {
  return mailer.deliver(welcomeMailFor(event));
}
