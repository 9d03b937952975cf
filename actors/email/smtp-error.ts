/**
 * The one place where nodemailer's SMTP errors become Connect codes (see nodemailer's
 * `lib/errors`, and RFC 5321 §4.2.1 for reply classes):
 *
 * - no connection (refused, reset, timed out, DNS, TLS): `unavailable`, a retry may succeed;
 * - a transient reply (4yz, and 503 and 421, which nodemailer also marks as not permanent):
 *   `unavailable`;
 * - a permanent reply (5yz) to RCPT TO: the recipient is bad, `invalid_argument` (addresses are
 *   checked before sending, so this is the server's verdict on a well-formed one);
 * - anything else (a permanent reply to MAIL FROM or DATA, failed authentication): not the
 *   caller's doing and not for the caller to see; it stays as it is, so the host answers
 *   `internal` and logs it.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** The fields nodemailer sets on its errors (nodemailer's `NodemailerError`). */
interface SmtpFailure {
  readonly code?: unknown;
  readonly responseCode?: unknown;
  readonly permanent?: unknown;
  readonly command?: unknown;
  readonly response?: unknown;
}

/** Failures to talk to the server at all (nodemailer's error codes). */
const CONNECTION_CODES: ReadonlySet<unknown> = new Set([
  "ECONNECTION",
  "ESOCKET",
  "ETIMEDOUT",
  "EDNS",
  "ETLS",
  "EPROXY",
]);

/**
 * The Connect error for a failed send to `recipient`, or undefined when the failure is not one the
 * caller can act on (rethrow the original then).
 */
export function connectErrorFromSmtp(err: unknown, recipient: string): ConnectError | undefined {
  if (err instanceof ConnectError) return err;
  if (typeof err !== "object" || err === null) return undefined;
  const failure = err as SmtpFailure;
  const { responseCode } = failure;
  const command = typeof failure.command === "string" ? failure.command : "";

  if (typeof responseCode === "number") {
    if (failure.permanent !== true) {
      return new ConnectError(
        `the mail server deferred the email (${responseCode} to ${command || "the session"}); try again later`,
        Code.Unavailable,
        undefined,
        undefined,
        err,
      );
    }
    if (command === "RCPT TO") {
      const reply = typeof failure.response === "string" ? `: ${failure.response}` : "";
      return new ConnectError(
        `the mail server refused the recipient "${recipient}"${reply}`,
        Code.InvalidArgument,
        undefined,
        undefined,
        err,
      );
    }
    return undefined;
  }
  if (CONNECTION_CODES.has(failure.code)) {
    return new ConnectError(
      `the mail server cannot be reached (${String(failure.code)})`,
      Code.Unavailable,
      undefined,
      undefined,
      err,
    );
  }
  return undefined;
}
