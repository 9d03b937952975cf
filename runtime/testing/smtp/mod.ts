/**
 * `troupe/testing/smtp`: a local SMTP sink for tests and local development (smtp-sink.ts says
 * what it is and is not). Its packages, smtp-server and postal-mime, are optional peer
 * dependencies: only a project that imports this subpath needs them.
 */
export {
  defaultSmtpSinkOptions,
  type MailHeader,
  type ReceivedMail,
  type SmtpReply,
  type SmtpSink,
  type SmtpSinkOptions,
  startSmtpSink,
} from "./smtp-sink.ts";
