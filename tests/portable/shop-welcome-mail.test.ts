/**
 * The mission's second scenario: a user-registered event makes the email service send a welcome
 * mail. The user and email actors are served in-process with `serveActor` against a real
 * nats-server, the email actor sending to a real SMTP server (the SMTP sink). RegisterUser is
 * called over NATS; the event is read off the wire with a plain NATS subscription and from the
 * stream, the mail from the sink.
 *
 * "Exactly one" needs a point after which no further mail can come: the stream holds one event
 * for the user, and the email actor's consumer has acknowledged everything it was given (a
 * message is acknowledged only after its handler sent the mail, and the sink records a mail
 * before it answers the send). Server-side counters announce nothing, so that is polled.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  openStateStore,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { eventConsumerName, eventStreamName, eventSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { type SmtpSink, startSmtpSink } from "troupe/testing/smtp";
import { createEmailActor } from "../../actors/email/actor.ts";
import { userActor, userRegisteredEventId } from "../../actors/user/actor.ts";
import { type User, UserRegisteredSchema, UserSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { eventually, withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };
const WAIT_MS = 10_000;
const FROM = "Troupe Shop <welcome@shop.example>";

/** Every message published on `subject` (a filter), as a plain NATS subscriber sees it. */
function wireTap(nc: NatsConnection, subject: string) {
  const seen: Msg[] = [];
  const waiters = new Set<{ subject: string; resolve: (msg: Msg) => void }>();
  // A callback runs as the message is read, so a message published before the reply to a call
  // made on this connection is here once that call has returned.
  const subscription = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err !== null) return;
      seen.push(msg);
      for (const waiter of [...waiters]) {
        if (waiter.subject !== msg.subject) continue;
        waiters.delete(waiter);
        waiter.resolve(msg);
      }
    },
  });
  return {
    /** The messages seen on `subject` so far. */
    on: (subject: string) => seen.filter((msg) => msg.subject === subject),
    /** The first message on `subject`, seen already or still to come. */
    first(subject: string): Promise<Msg> {
      const earlier = seen.find((msg) => msg.subject === subject);
      if (earlier !== undefined) return Promise.resolve(earlier);
      const arrived = new Promise<Msg>((resolve) => waiters.add({ subject, resolve }));
      return withTimeout(arrived, WAIT_MS, () => `no message on ${subject}`);
    },
    stop: () => subscription.unsubscribe(),
  };
}

describe("a registration sends a welcome mail", () => {
  let server: NatsServer;
  let sink: SmtpSink;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];

  const connection = async () => {
    const conn = await connect({ servers: server.url });
    connections.push(conn);
    return conn;
  };
  /** Serves `actor` on a connection of its own, as a process of its own would. */
  const serve = async (actor: Parameters<typeof serveActor>[1], namespace: string) => {
    const running = await serveActor(await connection(), actor, { namespace, logger: silentLogger });
    actors.push(running);
    return running;
  };
  const emailInstance = (namespace: string) =>
    serve(createEmailActor({ smtpUrl: sink.url, from: FROM }), namespace);
  const usersIn = (namespace: string): Client<typeof UserService> =>
    createClient(UserService, createNatsTransport({ nc, namespace }));

  const mailsTo = (address: string) => sink.messages().filter((mail) => mail.to.includes(address));
  const welcomeTo = (user: User) =>
    sink.waitFor((mail) => mail.to.includes(user.email) && mail.subject.startsWith("Welcome"), WAIT_MS);
  /** How many UserRegistered events of `userId` the stream holds. */
  const storedEvents = async (userId: string, namespace: string) => {
    const subject = eventSubject(UserRegisteredSchema, userId, namespace);
    const stream = eventStreamName("shop.v1", namespace);
    const { state } = await jsm.streams.info(stream, { subjects_filter: subject });
    return state.subjects?.[subject] ?? 0;
  };
  /** Resolves once the email actor has acknowledged every UserRegistered in the stream. */
  const emailActorIsIdle = (namespace: string) =>
    eventually(async () => {
      const stream = eventStreamName("shop.v1", namespace);
      const info = await jsm.consumers.info(stream, eventConsumerName("email", UserRegisteredSchema));
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, `the email actor handled every UserRegistered in namespace "${namespace}"`);

  before(async () => {
    server = await startNatsServer();
    sink = await startSmtpSink();
    nc = await connection();
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    for (const conn of connections) await conn.close();
    await sink?.stop();
    await server?.dispose();
  });

  test(
    "RegisterUser publishes UserRegistered and the user gets one welcome mail, retry or not",
    TIMEOUT,
    async () => {
      await serve(userActor, "");
      await emailInstance("");
      await emailInstance("");
      const tap = wireTap(nc, "evt.shop.v1.UserRegistered.*");
      await nc.flush(); // the subscription is in place on the server before the registration
      try {
        const users = usersIn("");
        const registration = { idempotencyKey: "welcome-1", email: "Mia@Example.org", displayName: "Mia" };
        const { user } = await users.registerUser(registration);
        assert.ok(user);

        const msg = await tap.first(`evt.shop.v1.UserRegistered.${user.id}`);
        const event = fromBinary(UserRegisteredSchema, msg.data);
        assert.deepEqual(
          [event.userId, event.email, event.displayName, event.registeredAt],
          [user.id, "mia@example.org", "Mia", user.createdAt],
        );
        assert.equal(msg.headers?.get("Nats-Msg-Id"), userRegisteredEventId(user.id));

        const mail = await welcomeTo(user);
        assert.deepEqual(mail.to, ["mia@example.org"], "addressed to the user");
        assert.equal(mail.subject, "Welcome to Troupe Shop, Mia!");
        assert.match(mail.text, /^Hello Mia,\n/);

        const retry = await users.registerUser(registration);
        assert.equal(retry.user?.id, user.id, "the retry answers with the same user");
        assert.equal(
          tap.on(msg.subject).length,
          1,
          "the retry of a completed registration publishes nothing",
        );
        assert.equal(await storedEvents(user.id, ""), 1, "the stream holds one event for the user");

        await emailActorIsIdle("");
        assert.equal(mailsTo("mia@example.org").length, 1, "one welcome mail, with two email instances");
      } finally {
        tap.stop();
      }
    },
  );

  test(
    "the event comes again after a restart of the email actor: no second welcome mail",
    TIMEOUT,
    async () => {
      const namespace = "again";
      await serve(userActor, namespace);
      const first = await emailInstance(namespace);
      const { user } = await usersIn(namespace).registerUser({
        idempotencyKey: "welcome-again",
        email: "noor@example.org",
        displayName: "Noor",
      });
      assert.ok(user);
      await welcomeTo(user);
      await emailActorIsIdle(namespace);

      // The instance that sent the mail is gone; two new ones, which never saw the event, run.
      await first.drain(1_000);
      await emailInstance(namespace);
      await emailInstance(namespace);
      // The same event again under a new message id, as a republish after the duplicate window
      // or a redrive would bring it: the consumers' guards do not know the id.
      const subject = eventSubject(UserRegisteredSchema, user.id, namespace);
      const stored = await jsm.streams.getMessage(eventStreamName("shop.v1", namespace), {
        last_by_subj: subject,
      });
      assert.ok(stored, "the stream holds the event");
      const republished = await jetstream(nc).publish(subject, stored.data, { msgID: "republished-later" });
      assert.equal(republished.duplicate, false);
      assert.equal(await storedEvents(user.id, namespace), 2);

      await emailActorIsIdle(namespace);
      assert.equal(mailsTo("noor@example.org").length, 1, "the dedupe records outlived the instance");
    },
  );

  test("a registration whose event was not published is announced by its retry, once", TIMEOUT, async () => {
    const namespace = "crash";
    const stream = eventStreamName("shop.v1", namespace);
    const first = await serve(userActor, namespace);
    // The stream is gone: the registration writes the user, then cannot publish, as if its
    // instance had died between the two.
    await jsm.streams.delete(stream);
    const registration = { idempotencyKey: "welcome-crash", email: "ola@example.org", displayName: "Ola" };
    const failed = await connectErrorOf(usersIn(namespace).registerUser(registration));
    assert.equal(failed.code, Code.Unavailable);
    const users = await openStateStore(nc, { bucket: "users", namespace, schema: UserSchema });
    const [written] = await users.keys();
    assert.ok(written, "the user was written before the publish failed");

    // Another instance starts (declaring the stream again) and takes the client's retry.
    await first.drain(1_000);
    await serve(userActor, namespace);
    await emailInstance(namespace);
    const tap = wireTap(nc, `${namespace}.evt.shop.v1.UserRegistered.*`);
    await nc.flush();
    try {
      const { user } = await usersIn(namespace).registerUser(registration);
      assert.equal(user?.id, written, "the retry completes the first call's registration");
      assert.ok(user);
      const subject = eventSubject(UserRegisteredSchema, user.id, namespace);
      assert.equal(tap.on(subject).length, 1, "the retry published the event");
      await welcomeTo(user);

      // A crash after the publish and before the registration was marked announced: the next
      // retry publishes again, with the same message id, and the stream drops it.
      const announced = await openStateStore(nc, { bucket: "user_announced", namespace, schema: UserSchema });
      await announced.delete(user.id);
      await usersIn(namespace).registerUser(registration);
      assert.equal(tap.on(subject).length, 2, "the retry published again");
      assert.deepEqual(
        tap.on(subject).map((msg) => msg.headers?.get("Nats-Msg-Id")),
        [userRegisteredEventId(user.id), userRegisteredEventId(user.id)],
      );
      assert.equal(await storedEvents(user.id, namespace), 1, "the duplicate window dropped it");

      await emailActorIsIdle(namespace);
      assert.equal(mailsTo("ola@example.org").length, 1);
    } finally {
      tap.stop();
    }
  });
});
