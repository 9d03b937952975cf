/**
 * The email actor: transactional email (shop.v1.EmailService). SendEmail renders the requested
 * template and hands the email to the mail server over SMTP (nodemailer), once per dedupe key
 * (mailer.ts: the records are in memory for now). The welcome email for UserRegistered is
 * welcome.ts's `sendWelcome`.
 *
 * Until the job queue exists, SendEmail delivers before it answers instead of queueing a
 * DeliverEmail job, so it answers SENT rather than QUEUED, and SMTP failures reach the caller:
 * `unavailable` when the mail server cannot be reached or defers, `invalid_argument` when it
 * refuses the recipient (smtp-error.ts).
 *
 * `actors/email/main.ts` runs it as a process; tests serve it in-process with `serveActor`.
 */
import { EmailService } from "../../proto/gen/shop/v1/email_pb.ts";
import { type ActorDefinition, defineActor, implement } from "../../runtime/mod.ts";
import { createMailer, defaultMailerOptions, type MailerOptions, resolveMailerOptions } from "./mailer.ts";

export type EmailActorOptions = MailerOptions;

export const defaultEmailActorOptions: EmailActorOptions = defaultMailerOptions;

/** The email actor sending through `smtpUrl` as `from` (bad options throw RangeError here). */
export function createEmailActor(partial: Partial<EmailActorOptions> = {}): ActorDefinition {
  const options = resolveMailerOptions(partial);
  return defineActor({
    name: "email",
    version: "1.0.0",
    description: "Transactional email: renders the shop's emails and sends each one once over SMTP.",
    services() {
      // One mailer (one SMTP transporter, one set of dedupe records) per instance. The
      // UserRegistered handler is `(event) => sendWelcome(mailer, event)` (welcome.ts).
      const mailer = createMailer(options);
      return [implement(EmailService, { sendEmail: (request) => mailer.sendEmail(request) })];
    },
  });
}

/** The email actor with the default options: a local SMTP catcher on port 1025. */
export const emailActor: ActorDefinition = createEmailActor();
