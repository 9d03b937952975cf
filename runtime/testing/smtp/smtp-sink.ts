/**
 * A local SMTP sink: a real SMTP server on 127.0.0.1 that accepts every message and keeps it in
 * memory, for tests and for local development (`npm start` points the email actor at one). It is
 * no mail server: no authentication, no TLS (STARTTLS is not offered), loopback only, nothing
 * relayed, and nothing stored on disk unless `onMail` does it. Never expose it or use it in production.
 *
 * Built on smtp-server (nodemailer's server library) for the SMTP dialogue and postal-mime for
 * reading what arrives (headers unfolded, encoded words and transfer encodings decoded,
 * multipart bodies taken apart). postal-mime is web-standard and has no dependencies; mailparser,
 * the Node-streams parser, would bring eight.
 *
 * A message is recorded, and waiters are woken, before the client gets its `250` reply: once a
 * send has resolved, `messages()` already holds it.
 */
import PostalMime from "postal-mime";
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerDataStream,
  type SMTPServerSession,
} from "smtp-server";

/** One message as the sink received it. */
export interface ReceivedMail {
  /** The envelope sender (`MAIL FROM`). */
  readonly from: string;
  /** The envelope recipients (`RCPT TO`) the sink accepted, in order. */
  readonly to: readonly string[];
  /** The decoded Subject header; "" when there is none. */
  readonly subject: string;
  /** The decoded plain-text body (the text/plain part of a multipart message); "" when there is none. */
  readonly text: string;
  /** Every header of the message in order, duplicates included: lower-case name, unfolded raw value. */
  readonly headers: readonly MailHeader[];
  /** The message as received (RFC 5322), decoded as UTF-8. */
  readonly raw: string;
}

export interface MailHeader {
  /** Lower case, e.g. "message-id". */
  readonly name: string;
  /** Unfolded, otherwise as sent (encoded words are not decoded here). */
  readonly value: string;
}

/** An SMTP reply refusing a recipient, e.g. `{ code: 550, message: "5.1.1 no such user" }`. */
export interface SmtpReply {
  /** 4xx: try again later; 5xx: refused for good (RFC 5321 §4.2.1). */
  readonly code: number;
  readonly message: string;
}

export interface SmtpSinkOptions {
  /** The port on 127.0.0.1; 0 lets the OS pick a free one. */
  readonly port: number;
  /**
   * Decides each recipient: a reply refuses it (RCPT TO answered with that code), undefined
   * accepts it. The default refuses addresses in the `.invalid` top-level domain, which RFC 2606
   * reserves for names that are certain to be invalid, with 550: a way to drill bounces.
   */
  readonly refuseRecipient: (address: string) => SmtpReply | undefined;
  /** The largest message accepted; bigger ones are refused with 552. */
  readonly maxMessageBytes: number;
  /** How many messages `messages()` keeps; the oldest are dropped first. */
  readonly maxMessages: number;
  /** Told about each message as it is recorded (a dev mail sink saves and logs it); must not throw. */
  readonly onMail: ((mail: ReceivedMail) => void) | undefined;
}

export const defaultSmtpSinkOptions: SmtpSinkOptions = {
  port: 0,
  refuseRecipient: (address) =>
    /\.invalid$/i.test(address) ? { code: 550, message: "5.1.1 Recipient address rejected" } : undefined,
  maxMessageBytes: 10 * 1024 * 1024,
  maxMessages: 1_000,
  onMail: undefined,
};

export interface SmtpSink extends AsyncDisposable {
  /** `smtp://127.0.0.1:<port>`: a URL nodemailer and the email actor take as is. */
  readonly url: string;
  readonly port: number;
  /** The messages received so far, oldest first (a copy). */
  messages(): ReceivedMail[];
  /**
   * The first message, already received or still to come, that matches. Rejects after
   * `timeoutMs` (naming what did arrive) and when the sink stops.
   */
  waitFor(predicate: (mail: ReceivedMail) => boolean, timeoutMs: number): Promise<ReceivedMail>;
  /** Stops listening and closes open sessions; pending waits reject. Idempotent. */
  stop(): Promise<void>;
}

interface Waiter {
  readonly predicate: (mail: ReceivedMail) => boolean;
  readonly resolve: (mail: ReceivedMail) => void;
  readonly reject: (reason: Error) => void;
}

/** How long `stop()` lets open sessions finish before closing them. */
const CLOSE_GRACE_MS = 1_000;

/** Starts an SMTP sink on 127.0.0.1 (see the module comment for what it is and is not). */
export async function startSmtpSink(partial: Partial<SmtpSinkOptions> = {}): Promise<SmtpSink> {
  const options: SmtpSinkOptions = { ...defaultSmtpSinkOptions, ...partial };
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${options.port}`);
  }
  if (!Number.isInteger(options.maxMessageBytes) || options.maxMessageBytes < 1) {
    throw new RangeError(`maxMessageBytes must be a positive integer, got ${options.maxMessageBytes}`);
  }
  if (!Number.isInteger(options.maxMessages) || options.maxMessages < 1) {
    throw new RangeError(`maxMessages must be a positive integer, got ${options.maxMessages}`);
  }

  const received: ReceivedMail[] = [];
  const waiters = new Set<Waiter>();

  const record = (mail: ReceivedMail) => {
    received.push(mail);
    if (received.length > options.maxMessages) received.shift();
    options.onMail?.(mail);
    for (const waiter of [...waiters]) {
      if (!waiter.predicate(mail)) continue;
      waiters.delete(waiter);
      waiter.resolve(mail);
    }
  };

  const server = new SMTPServer({
    name: "troupe-smtp-sink",
    banner: "Troupe SMTP sink (local development only)",
    // Plain SMTP without authentication: nothing to upgrade to or log in with.
    disabledCommands: ["STARTTLS", "AUTH"],
    authOptional: true,
    disableReverseLookup: true,
    size: options.maxMessageBytes,
    rejectOversized: true,
    closeTimeout: CLOSE_GRACE_MS,
    logger: false,
    onRcptTo(
      address: SMTPServerAddress,
      _session: SMTPServerSession,
      callback: (err?: Error | null) => void,
    ) {
      const refusal = options.refuseRecipient(address.address);
      callback(refusal === undefined ? null : smtpError(refusal));
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      receive(stream, session).then(
        (mail) => {
          if (stream.sizeExceeded) return callback(smtpError({ code: 552, message: "Message too big" }));
          record(mail);
          callback(null);
        },
        (err: unknown) =>
          callback(smtpError({ code: 451, message: `Cannot read the message: ${String(err)}` })),
      );
    },
  });
  // A client that resets its connection is no reason to stop; smtp-server reports it here.
  server.on("error", () => {});

  const port = await listen(server, options.port);
  let stopped: Promise<void> | undefined;

  const sink: SmtpSink = {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages: () => [...received],
    waitFor(predicate, timeoutMs) {
      const seen = received.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      if (stopped !== undefined) return Promise.reject(new Error(`SMTP sink ${sink.url} is stopped`));
      return new Promise<ReceivedMail>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching mail within ${timeoutMs} ms; received: ${describe(received)}`));
        }, timeoutMs);
        const waiter: Waiter = {
          predicate,
          resolve: (mail) => {
            clearTimeout(timer);
            resolve(mail);
          },
          reject: (reason) => {
            clearTimeout(timer);
            reject(reason);
          },
        };
        waiters.add(waiter);
      });
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const waiter of waiters) waiter.reject(new Error(`SMTP sink ${sink.url} stopped`));
        waiters.clear();
        server.close(() => resolve());
      });
      return stopped;
    },
    [Symbol.asyncDispose]: () => sink.stop(),
  };
  return sink;
}

/** Listens on 127.0.0.1 and resolves with the bound port. */
function listen(server: SMTPServer, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError);
      const address = server.server.address();
      if (typeof address === "object" && address !== null) resolve(address.port);
      else reject(new Error(`SMTP sink bound to an unexpected address: ${String(address)}`));
    });
  });
}

/** Reads one message from its DATA stream and parses what the sink reports. */
async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<ReceivedMail> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk as Uint8Array);
  const bytes = concat(chunks);
  const email = await PostalMime.parse(bytes);
  const { mailFrom, rcptTo } = session.envelope;
  return {
    from: mailFrom === false ? "" : mailFrom.address,
    to: rcptTo.map((recipient) => recipient.address),
    subject: email.subject ?? "",
    text: email.text ?? "",
    headers: email.headers.map((header) => ({ name: header.key, value: header.value })),
    raw: new TextDecoder().decode(bytes),
  };
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** An error smtp-server answers with the given reply code. */
function smtpError(reply: SmtpReply): Error {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

function describe(mails: readonly ReceivedMail[]): string {
  if (mails.length === 0) return "nothing";
  return mails
    .slice(-10)
    .map((mail) => `${JSON.stringify(mail.subject)} to ${mail.to.join(", ")}`)
    .join("; ");
}
