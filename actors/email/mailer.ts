/**
 * The email actor's sending core: checks an email, renders its template, hands it to the mail
 * server over SMTP with nodemailer, and does so once per dedupe key.
 *
 * Idempotency is durable and shared (sent-emails.ts): the dedupe records are in a KV bucket, so a
 * repeated key sends nothing again on any instance and after restarts; concurrent requests with
 * one key share one send.
 *
 * A send is not cancelled when its caller gives up (deadline, cancellation): it runs to the end,
 * bounded by the SMTP timeouts, and its result is recorded under the key, so the caller's retry
 * gets the email that was sent instead of a second one.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createTransport } from "nodemailer";
import { EmailStatus, type EmailTemplate, type SendEmailRequest } from "../../proto/gen/shop/v1/email_pb.ts";
import type { SentEmails } from "./sent-emails.ts";
import { connectErrorFromSmtp } from "./smtp-error.ts";
import { renderEmail } from "./templates.ts";

export interface MailerOptions {
  /** Where mail goes: `smtp://host:port` (STARTTLS when offered) or `smtps://host:port`; credentials as `smtp://user:pass@host`. */
  readonly smtpUrl: string;
  /** The sender: `address` or `Name <address>`. */
  readonly from: string;
  /** How long connecting and the server's greeting may each take, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** How long the server may stay silent during a session, in milliseconds. */
  readonly socketTimeoutMs: number;
}

export const defaultMailerOptions: MailerOptions = {
  // The port local catchers (and `npm start`'s SMTP sink) conventionally listen on.
  smtpUrl: "smtp://127.0.0.1:1025",
  from: "Troupe Shop <no-reply@shop.example>",
  connectTimeoutMs: 5_000,
  socketTimeoutMs: 5_000,
};

/** An email ready to send: rendered, addressed, with the key that makes sending it idempotent. */
export interface OutgoingEmail {
  /** Sending again with the same key returns the first result and sends nothing. */
  readonly dedupeKey: string;
  readonly to: string;
  readonly template: EmailTemplate;
  readonly subject: string;
  readonly text: string;
  /** The user the email is about; "" for none. */
  readonly userId: string;
}

export interface SentEmail {
  readonly emailId: string;
  readonly status: EmailStatus;
}

export interface Mailer {
  /** EmailService.SendEmail: checks the request, renders its template and delivers it. */
  sendEmail(request: SendEmailRequest): Promise<SentEmail>;
  /** Delivers a rendered email, once per dedupe key (see the module comment). */
  deliver(email: OutgoingEmail): Promise<SentEmail>;
}

const MAX_KEY_LENGTH = 200;
const MAX_ADDRESS_LENGTH = 254;
const MAX_USER_ID_LENGTH = 100;

// One plain address, local@domain: no display name and nothing an address parser could read as a
// second mailbox (, ; < > " ( ) [ ] \ :), no white space or control characters, a dot in the
// domain. The mail server judges the rest (a refused recipient is invalid_argument as well).
const ATOM = String.raw`[^\s\p{Cc}@,;<>"()[\]\\:]`;
const DOMAIN_LABEL = String.raw`[^\s\p{Cc}@,;<>"()[\]\\:.]+`;
const ADDRESS = new RegExp(`^${ATOM}+@${DOMAIN_LABEL}(\\.${DOMAIN_LABEL})+$`, "u");
const NAMED_ADDRESS = /^(?<name>[^<>]*?)\s*<(?<address>[^<>]+)>$/u;

/** Fills in defaults and checks the options; throws RangeError for a bad one. */
export function resolveMailerOptions(partial: Partial<MailerOptions> = {}): MailerOptions {
  const options: MailerOptions = { ...defaultMailerOptions, ...partial };
  let url: URL;
  try {
    url = new URL(options.smtpUrl);
  } catch {
    throw new RangeError(`smtpUrl must be an smtp:// or smtps:// URL, got "${options.smtpUrl}"`);
  }
  if ((url.protocol !== "smtp:" && url.protocol !== "smtps:") || url.hostname === "") {
    throw new RangeError(`smtpUrl must be an smtp:// or smtps:// URL with a host, got "${options.smtpUrl}"`);
  }
  parseSender(options.from);
  for (const key of ["connectTimeoutMs", "socketTimeoutMs"] as const) {
    if (!Number.isFinite(options[key]) || options[key] <= 0) {
      throw new RangeError(`${key} must be a number of milliseconds > 0, got ${options[key]}`);
    }
  }
  return options;
}

/**
 * A mailer with one SMTP transporter (a connection per send, nothing held open between sends)
 * that keeps its dedupe records in `sentEmails`.
 */
export function createMailer(sentEmails: SentEmails, partial: Partial<MailerOptions> = {}): Mailer {
  const options = resolveMailerOptions(partial);
  const sender = parseSender(options.from);
  const senderDomain = sender.address.slice(sender.address.lastIndexOf("@") + 1);
  const transporter = createTransport({
    url: options.smtpUrl,
    connectionTimeout: options.connectTimeoutMs,
    greetingTimeout: options.connectTimeoutMs,
    socketTimeout: options.socketTimeoutMs,
    // Emails are text we render; nothing in them may make the mailer read files or URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const send = async (email: OutgoingEmail, to: string, emailId: string): Promise<void> => {
    try {
      await transporter.sendMail({
        from: sender,
        to: { name: "", address: to },
        subject: email.subject,
        text: email.text,
        messageId: `<${emailId}@${senderDomain}>`,
      });
    } catch (err) {
      throw connectErrorFromSmtp(err, to) ?? err;
    }
  };

  const deliver = async (email: OutgoingEmail): Promise<SentEmail> => {
    const key = checkDedupeKey(email.dedupeKey);
    const to = checkAddress(email.to);
    if (email.userId.length > MAX_USER_ID_LENGTH) {
      throw invalidArgument(`user_id must be at most ${MAX_USER_ID_LENGTH} characters`);
    }
    const emailId = await sentEmails.once(key, (emailId) => send(email, to, emailId));
    return { emailId, status: EmailStatus.SENT };
  };

  return {
    // Async so that a refused request is a rejected promise, like a failed send.
    async sendEmail(request) {
      checkDedupeKey(request.dedupeKey);
      checkAddress(request.to);
      const rendered = renderEmail(request.template, request.variables);
      return deliver({
        dedupeKey: request.dedupeKey,
        to: request.to,
        template: request.template,
        userId: request.userId,
        ...rendered,
      });
    },
    deliver,
  };
}

function checkDedupeKey(key: string): string {
  if (key.trim() === "") throw invalidArgument("dedupe_key is required");
  if (key.length > MAX_KEY_LENGTH)
    throw invalidArgument(`dedupe_key must be at most ${MAX_KEY_LENGTH} characters`);
  return key;
}

/** The recipient, trimmed; `invalid_argument` unless it is one plain address. */
function checkAddress(value: string): string {
  const address = value.trim();
  if (address === "") throw invalidArgument("to is required");
  if (address.length > MAX_ADDRESS_LENGTH || !ADDRESS.test(address)) {
    throw invalidArgument(`to "${value}" is not a valid email address`);
  }
  return address;
}

/** `address` or `Name <address>`; RangeError otherwise (it is configuration, not a request). */
function parseSender(from: string): { name: string; address: string } {
  const trimmed = from.trim();
  const named = NAMED_ADDRESS.exec(trimmed)?.groups;
  const name = named?.name?.trim() ?? "";
  const address = named?.address?.trim() ?? trimmed;
  if (!ADDRESS.test(address)) {
    throw new RangeError(`from must be "address" or "Name <address>", got "${from}"`);
  }
  return { name, address };
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
