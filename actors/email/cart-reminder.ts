/**
 * The reminder of an abandoned cart (shop.v1.SendCartReminder, a job the cart actor enqueues,
 * shop/v1/cart.proto): the email actor's handler of that job (actor.ts subscribes it). One email
 * per abandonment: the dedupe key is the cart with its generation and revision, so a redelivered
 * or re-enqueued job sends nothing new, on any instance; the same cart left again after a change
 * is a new abandonment, and a new email.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { EmailTemplate, type SendCartReminder } from "../../proto/gen/shop/v1/email_pb.ts";
import type { Money } from "../../proto/gen/shop/v1/money_pb.ts";
import type { Mailer, OutgoingEmail, SentEmail } from "./mailer.ts";
import { renderEmail } from "./templates.ts";

/** The dedupe key of the reminder of one abandonment of a cart. */
export function cartReminderKeyOf(job: Pick<SendCartReminder, "cartId" | "generation" | "revision">): string {
  return `cart-reminder:${job.cartId}:${job.generation}:${job.revision}`;
}

/** The reminder email for `job`, rendered; `invalid_argument` for a job without a cart or subtotal. */
export function cartReminderMailFor(job: SendCartReminder): OutgoingEmail {
  if (job.cartId === "") throw new ConnectError("SendCartReminder has no cart_id", Code.InvalidArgument);
  if (job.subtotal === undefined) {
    throw new ConnectError("SendCartReminder has no subtotal", Code.InvalidArgument);
  }
  return {
    dedupeKey: cartReminderKeyOf(job),
    to: job.to,
    template: EmailTemplate.CART_REMINDER,
    userId: job.userId,
    ...renderEmail(EmailTemplate.CART_REMINDER, {
      display_name: job.displayName,
      item_count: String(job.itemCount),
      subtotal: formatMoney(job.subtotal),
    }),
  };
}

/** Sends the reminder for `job`, once per abandonment. */
export async function sendCartReminder(mailer: Mailer, job: SendCartReminder): Promise<SentEmail> {
  return mailer.deliver(cartReminderMailFor(job));
}

/** `EUR 24.90`: the amount in major units, with as many decimals as the currency has (ISO 4217). */
export function formatMoney(money: Money): string {
  const digits =
    new Intl.NumberFormat("en", { style: "currency", currency: money.currency }).resolvedOptions()
      .maximumFractionDigits ?? 2;
  const scale = 10n ** BigInt(digits);
  const sign = money.amountMinor < 0n ? "-" : "";
  const minor = money.amountMinor < 0n ? -money.amountMinor : money.amountMinor;
  const fraction = digits === 0 ? "" : `.${String(minor % scale).padStart(digits, "0")}`;
  return `${money.currency} ${sign}${minor / scale}${fraction}`;
}
