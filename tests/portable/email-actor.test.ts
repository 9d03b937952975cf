/**
 * The email actor against a real nats-server (with JetStream, where its dedupe records live) and
 * a real SMTP server (the SMTP sink): SendEmail is called the way other actors call it, over
 * NATS, and what the mail server received is read back from the sink. The sink records a message
 * before it answers `250`, so once a send has returned its mail is in `messages()`: no waiting,
 * and an extra mail would be seen.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  openStateStore,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { type ReceivedMail, type SmtpSink, startSmtpSink } from "troupe/testing/smtp";
import { createEmailActor } from "../../actors/email/actor.ts";
import { createMailer } from "../../actors/email/mailer.ts";
import { openSentEmails } from "../../actors/email/sent-emails.ts";
import { sendWelcome, welcomeMailFor } from "../../actors/email/welcome.ts";
import { SentEmailRecordSchema } from "../../proto/gen/shop/email/state/v1/email_state_pb.ts";
import {
  EmailService,
  EmailStatus,
  EmailTemplate,
  SendEmailRequestSchema,
} from "../../proto/gen/shop/v1/email_pb.ts";
import { UserRegisteredSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import { storesOn } from "../support/actor-hooks.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { eventually } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };
const WAIT_MS = 5_000;
const FROM = "Troupe Shop <shop@shop.example>";

const header = (mail: ReceivedMail, name: string) => mail.headers.find((h) => h.name === name)?.value;
/** The mail whose Message-ID names the email id SendEmail answered with. */
const isEmail = (emailId: string) => (mail: ReceivedMail) =>
  header(mail, "message-id")?.includes(emailId) === true;

describe("email actor", () => {
  let server: NatsServer;
  let sink: SmtpSink;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  let emails: Client<typeof EmailService>;

  const connection = async () => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };
  /** An email client of an actor served in its own namespace, sending through `smtpUrl`. */
  const emailActorAt = async (namespace: string, smtpUrl: string) => {
    actors.push(
      await serveActor(
        await connection(),
        createEmailActor({ smtpUrl, from: FROM, connectTimeoutMs: 2_000 }),
        {
          namespace,
          logger: silentLogger,
        },
      ),
    );
    return createClient(EmailService, createNatsTransport({ nc: await connection(), namespace }));
  };
  const mailsTo = (address: string) => sink.messages().filter((mail) => mail.to.includes(address));
  /** A mailer with its own connection (as another instance would have), keeping its records in `namespace`. */
  const mailerIn = async (namespace: string, smtpUrl = sink.url, claimLeaseMs?: number) =>
    createMailer(
      await openSentEmails(storesOn(await connection(), namespace), {
        ...(claimLeaseMs === undefined ? {} : { claimLeaseMs }),
      }),
      { smtpUrl, from: FROM },
    );

  before(async () => {
    server = await startNatsServer();
    sink = await startSmtpSink({
      refuseRecipient: (address) => {
        if (address.endsWith(".invalid")) return { code: 550, message: "5.1.1 No such user" };
        if (address.startsWith("busy@")) return { code: 450, message: "4.2.1 Mailbox busy, try later" };
        return undefined;
      },
    });
    emails = await emailActorAt("", sink.url);
  });

  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await sink?.stop();
    await server?.dispose();
  });

  test("SendEmail renders the template and the mail server receives it", TIMEOUT, async () => {
    const response = await emails.sendEmail({
      dedupeKey: "order-confirmation:o-1",
      to: " ada@example.org ",
      template: EmailTemplate.ORDER_CONFIRMATION,
      variables: { display_name: "Ada", order_id: "o-1", total: "€12.50", unused: "ignored" },
      userId: "u-1",
    });
    assert.equal(response.status, EmailStatus.SENT);
    assert.match(response.emailId, /^e-[0-9a-f-]{36}$/);

    const mail = await sink.waitFor(isEmail(response.emailId), WAIT_MS);
    assert.deepEqual(mail.to, ["ada@example.org"], "one recipient, trimmed");
    assert.equal(mail.from, "shop@shop.example");
    assert.match(header(mail, "from") ?? "", /Troupe Shop <shop@shop\.example>/);
    assert.equal(mail.subject, "Your order o-1 is confirmed");
    assert.match(mail.text, /^Hello Ada,\n/);
    assert.match(mail.text, /order o-1\. Total: €12\.50\./, "non-ASCII text survives the trip");
    assert.doesNotMatch(mail.text, /ignored/);
    assert.match(mail.raw, /^Subject: Your order o-1 is confirmed\r$/m, "raw keeps the message as sent");
  });

  test("a repeated dedupe_key returns the first email and sends nothing again", TIMEOUT, async () => {
    const request = {
      dedupeKey: "invoice:inv-7",
      to: "billing@example.org",
      template: EmailTemplate.INVOICE,
      variables: { invoice_number: "inv-7", order_id: "o-7", total: "EUR 30.00" },
    };
    const first = await emails.sendEmail(request);
    const retry = await emails.sendEmail(request);
    assert.equal(retry.emailId, first.emailId, "the retry answers with the first email");
    assert.equal(retry.status, EmailStatus.SENT);
    assert.equal(mailsTo("billing@example.org").length, 1, "one mail for two calls");

    // Concurrent duplicates share the one send in flight.
    const concurrent = { ...request, dedupeKey: "invoice:inv-8", to: "billing-2@example.org" };
    const answers = await Promise.all([emails.sendEmail(concurrent), emails.sendEmail(concurrent)]);
    assert.equal(answers[0].emailId, answers[1].emailId);
    assert.equal(mailsTo("billing-2@example.org").length, 1, "one mail for two concurrent calls");

    // Another key is another email.
    const other = await emails.sendEmail({ ...request, dedupeKey: "invoice:inv-7-resend" });
    assert.notEqual(other.emailId, first.emailId);
    assert.equal(mailsTo("billing@example.org").length, 2);
  });

  test("an unreachable mail server is unavailable; the retry sends once it is back", TIMEOUT, async () => {
    // A port that was just an SMTP server's: nothing listens on it now.
    const gone = await startSmtpSink();
    await gone.stop();
    const client = await emailActorAt("nosmtp", gone.url);
    const request = {
      dedupeKey: "refund:o-9",
      to: "refund@example.org",
      template: EmailTemplate.REFUND_CONFIRMATION,
      variables: { order_id: "o-9", amount: "EUR 5.00" },
    };
    const error = await connectErrorOf(client.sendEmail(request));
    assert.equal(error.code, Code.Unavailable);
    assert.match(error.rawMessage, /cannot be reached/);

    // The failure was not recorded under the key: the same request sends once a server listens.
    const back = await startSmtpSink({ port: gone.port });
    try {
      const { emailId } = await client.sendEmail(request);
      const mail = await back.waitFor(isEmail(emailId), WAIT_MS);
      assert.equal(mail.subject, "Your refund for order o-9");
      assert.equal(back.messages().length, 1);
    } finally {
      await back.stop();
    }
  });

  test("bad addresses are invalid_argument, before sending or from the server", TIMEOUT, async () => {
    const send = (to: string) =>
      emails.sendEmail({
        dedupeKey: `welcome-to:${to}`,
        to,
        template: EmailTemplate.WELCOME,
        variables: { display_name: "X" },
      });
    const before = sink.messages().length;
    for (const to of [
      "",
      "not-an-email",
      "x@localhost",
      "a@example.org, b@example.org",
      "X <x@example.org>",
    ]) {
      const error = await connectErrorOf(send(to));
      assert.equal(error.code, Code.InvalidArgument, JSON.stringify(to));
    }
    assert.equal(sink.messages().length, before, "nothing was sent");

    const refused = await connectErrorOf(send("nobody@shop.invalid"));
    assert.equal(refused.code, Code.InvalidArgument, "a recipient refused with 5xx on RCPT TO");
    assert.match(refused.rawMessage, /refused the recipient "nobody@shop\.invalid": 550/);

    const deferred = await connectErrorOf(send("busy@example.org"));
    assert.equal(deferred.code, Code.Unavailable, "a recipient deferred with 4xx is worth a retry");
    assert.equal(sink.messages().length, before, "nothing was delivered");
  });

  test("bad requests are invalid_argument", TIMEOUT, async () => {
    const valid = {
      dedupeKey: "k",
      to: "x@example.org",
      template: EmailTemplate.WELCOME,
      variables: { display_name: "X" },
    };
    for (const [what, request] of [
      ["no dedupe_key", { ...valid, dedupeKey: " " }],
      ["no template", { ...valid, template: EmailTemplate.UNSPECIFIED }],
      ["an unknown template", { ...valid, template: 99 as EmailTemplate }],
      ["a missing variable", { ...valid, variables: {} }],
      ["an empty variable", { ...valid, variables: { display_name: " " } }],
      ["a variable with a line break", { ...valid, variables: { display_name: "X\r\nBcc: y@example.org" } }],
    ] as const) {
      const error = await connectErrorOf(emails.sendEmail(request));
      assert.equal(error.code, Code.InvalidArgument, what);
    }
    assert.equal(mailsTo("x@example.org").length, 0);
  });

  test("two instances and a restart send one email per dedupe key", TIMEOUT, async () => {
    const email = (to: string) =>
      create(SendEmailRequestSchema, {
        dedupeKey: `welcome:${to}`,
        to,
        template: EmailTemplate.WELCOME,
        variables: { display_name: "Ines" },
      });
    // Two instances (each with its own connection and mailer) get the same key at the same time.
    const [a, b] = [await mailerIn("shared"), await mailerIn("shared")];
    const request = email("ines@example.org");
    const [first, second] = await Promise.all([a.sendEmail(request), b.sendEmail(request)]);
    assert.equal(second.emailId, first.emailId, "both instances answer with the one email");
    assert.equal(mailsTo("ines@example.org").length, 1, "one mail for the two instances");

    // A restarted instance remembers it too.
    const restarted = await mailerIn("shared");
    const again = await restarted.sendEmail(request);
    assert.equal(again.emailId, first.emailId);
    assert.equal(again.status, EmailStatus.SENT);
    assert.equal(mailsTo("ines@example.org").length, 1, "nothing sent after the restart");

    // The records are per namespace: another system sends its own.
    const other = await (await mailerIn("other-system")).sendEmail(request);
    assert.notEqual(other.emailId, first.emailId);
    assert.equal(mailsTo("ines@example.org").length, 2);
  });

  test(
    "a key another instance is sending waits for it; an abandoned one is sent again",
    TIMEOUT,
    async () => {
      const namespace = "claims";
      const records = await openStateStore(await connection(), {
        bucket: "email_sent",
        namespace,
        schema: SentEmailRecordSchema,
      });
      const mailer = await mailerIn(namespace, sink.url, 30_000);
      const request = (dedupeKey: string, to: string) =>
        create(SendEmailRequestSchema, {
          dedupeKey,
          to,
          template: EmailTemplate.WELCOME,
          variables: { display_name: "Jo" },
        });

      // Another instance claimed "busy" just now and is sending it: this request waits for the outcome.
      const busyKey = stateKeyOf("busy");
      const claimedAt = timestampNow();
      const revision = await records.put(busyKey, { emailId: "e-busy", claimedAt }, { expectedRevision: 0 });
      const waiting = mailer.sendEmail(request("busy", "jo@example.org"));
      // The claimer finishes once this request watches the key (a consumer of the bucket's stream).
      const jsm = await jetstreamManager(await connection());
      await eventually(
        async () => (await jsm.streams.info(`KV_${records.bucket}`)).state.consumer_count > 0,
        "the waiting request watches the key",
      );
      await records.put(
        busyKey,
        { emailId: "e-busy", claimedAt, sentAt: timestampNow() },
        { expectedRevision: revision },
      );
      const answered = await waiting;
      assert.equal(answered.emailId, "e-busy", "the other instance's email is the answer");
      assert.equal(mailsTo("jo@example.org").length, 0, "and this instance sent nothing");

      // An instance claimed "dead" longer ago than the lease and never finished: it died.
      const deadKey = stateKeyOf("dead");
      const longAgo = { seconds: claimedAt.seconds - 60n, nanos: 0 };
      await records.put(deadKey, { emailId: "e-dead", claimedAt: longAgo }, { expectedRevision: 0 });
      const resent = await mailer.sendEmail(request("dead", "jo-2@example.org"));
      assert.equal(resent.emailId, "e-dead", "sent again as the same email");
      const mail = await sink.waitFor(isEmail("e-dead"), WAIT_MS);
      assert.deepEqual(mail.to, ["jo-2@example.org"]);
      assert.ok((await records.get(deadKey))?.value.sentAt, "and recorded as sent");
    },
  );

  test("sendWelcome sends the welcome email for a UserRegistered, once", TIMEOUT, async () => {
    const event = create(UserRegisteredSchema, {
      userId: "u-42",
      email: "zoe@example.org",
      displayName: "Zoë",
      registeredAt: timestampNow(),
    });
    const rendered = welcomeMailFor(event);
    assert.equal(rendered.subject, "Welcome to Troupe Shop, Zoë!");
    assert.equal(rendered.dedupeKey, "welcome:u-42");

    const mailer = await mailerIn("welcome");
    const sent = await sendWelcome(mailer, event);
    assert.equal(sent.status, EmailStatus.SENT);
    const mail = await sink.waitFor(isEmail(sent.emailId), WAIT_MS);
    assert.deepEqual(mail.to, ["zoe@example.org"]);
    assert.equal(mail.subject, "Welcome to Troupe Shop, Zoë!", "the encoded subject decodes");
    assert.equal(mail.text, rendered.text);
    assert.match(mail.text, /^Hello Zoë,\n/);

    const again = await sendWelcome(mailer, event);
    assert.equal(again.emailId, sent.emailId, "a redelivered event sends no second welcome");
    assert.equal(mailsTo("zoe@example.org").length, 1);

    const nameless = create(UserRegisteredSchema, { userId: "u-43", email: "n@example.org" });
    const error = await connectErrorOf(sendWelcome(mailer, nameless));
    assert.equal(error.code, Code.InvalidArgument);
  });

  test(
    "the sink's waitFor resolves on arrival, times out naming what came, and ends with stop",
    TIMEOUT,
    async () => {
      const own = await startSmtpSink();
      try {
        const mailer = await mailerIn("own-sink", own.url);
        const waiting = own.waitFor((mail) => mail.subject.includes("Welcome"), WAIT_MS);
        const event = create(UserRegisteredSchema, {
          userId: "u-50",
          email: "w@example.org",
          displayName: "W",
        });
        await sendWelcome(mailer, event);
        assert.deepEqual((await waiting).to, ["w@example.org"], "a wait started before the mail arrived");

        await assert.rejects(
          own.waitFor((mail) => mail.subject === "never", 50),
          /no matching mail within 50 ms; received: "Welcome to Troupe Shop, W!" to w@example\.org/,
        );
        // The rejection is awaited from the start: it happens inside stop().
        const pending = assert.rejects(
          own.waitFor((mail) => mail.subject === "never", WAIT_MS),
          /stopped/,
        );
        await own.stop();
        await pending;
      } finally {
        await own.stop();
      }
    },
  );
});
