/**
 * The email actor: transactional email (shop.v1.EmailService). SendEmail renders the requested
 * template and hands the email to the mail server over SMTP (nodemailer), once per dedupe key:
 * the dedupe records are in a KV bucket shared by every instance (sent-emails.ts). It follows
 * UserRegistered and sends the welcome email (welcome.ts's `sendWelcome`), once per user, and
 * takes the cart actor's SendCartReminder jobs and sends the reminder of an abandoned cart
 * (cart-reminder.ts's `sendCartReminder`), once per abandonment.
 *
 * Until the job queue exists, SendEmail delivers before it answers instead of queueing a
 * DeliverEmail job, so it answers SENT rather than QUEUED, and SMTP failures reach the caller:
 * `unavailable` when the mail server cannot be reached or defers, `invalid_argument` when it
 * refuses the recipient (smtp-error.ts). A UserRegistered whose welcome fails is retried with
 * back-off, and a refused recipient is dead-lettered at once (ADR 0007).
 *
 * `actors/email/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */

import { type ActorDefinition, defineActor, implement, onEvent, onJob } from "troupe";
import { EmailService, SendCartReminderSchema } from "../../proto/gen/shop/v1/email_pb.ts";
import { UserRegisteredSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import { sendCartReminder } from "./cart-reminder.ts";
import { createMailer, defaultMailerOptions, type MailerOptions, resolveMailerOptions } from "./mailer.ts";
import { defaultSentEmailsOptions, openSentEmails, resolveSentEmailsOptions } from "./sent-emails.ts";
import { sendWelcome } from "./welcome.ts";

export interface EmailActorOptions extends MailerOptions {
  /** How long SendEmail remembers a dedupe key (and a welcome its user), in milliseconds. */
  readonly dedupeTtlMs: number;
  /**
   * How long an instance may take to send an email it claimed before another instance takes the
   * email to be abandoned and sends it again, in milliseconds (sent-emails.ts).
   */
  readonly claimLeaseMs: number;
}

export const defaultEmailActorOptions: EmailActorOptions = {
  ...defaultMailerOptions,
  dedupeTtlMs: defaultSentEmailsOptions.ttlMs,
  claimLeaseMs: defaultSentEmailsOptions.claimLeaseMs,
};

/** The email actor sending through `smtpUrl` as `from` (bad options throw RangeError here). */
export function createEmailActor(partial: Partial<EmailActorOptions> = {}): ActorDefinition {
  const { dedupeTtlMs, claimLeaseMs, ...mailerOptions } = { ...defaultEmailActorOptions, ...partial };
  const mailer = resolveMailerOptions(mailerOptions);
  const records = resolveSentEmailsOptions({ ttlMs: dedupeTtlMs, claimLeaseMs });
  return defineActor({
    name: "email",
    version: "1.0.0",
    description: "Transactional email: renders the shop's emails and sends each one once over SMTP.",
    serves: [EmailService],
    consumes: { events: [UserRegisteredSchema], jobs: [SendCartReminderSchema] },
    state: ["email_sent"],
    // One mailer (one SMTP transporter) per instance; the dedupe records are shared by all.
    async setup(ctx) {
      const sentEmails = await openSentEmails(ctx, records);
      return createMailer(sentEmails, mailer);
    },
    services: (_ctx, mailer) => [
      implement(EmailService, { sendEmail: (request) => mailer.sendEmail(request) }),
    ],
    // The guard skips a redelivered event this actor already handled; the dedupe key
    // (`welcome:<user id>`) covers a republished one (a new message id for the same user).
    subscriptions: (_ctx, mailer) => [
      onEvent(
        UserRegisteredSchema,
        async (event) => {
          await sendWelcome(mailer, event);
        },
        { idempotent: true },
      ),
      // The dedupe key (`cart-reminder:<cart>:<generation>:<revision>`) makes a job that comes
      // again (redelivered, or enqueued again after the stream's duplicate window) send nothing.
      onJob(SendCartReminderSchema, async (job) => {
        await sendCartReminder(mailer, job);
      }),
    ],
  });
}

/** The email actor with the default options: a local SMTP catcher on port 1025. */
export const emailActor: ActorDefinition = createEmailActor();
