/**
 * The traffic and JetStream verbs of the `troupe` command (runtime/cli/commands: tail, decode,
 * publish, enqueue, streams, consumers, dlq) against a real nats-server and real actors: the
 * shop's user actor and a test actor that consumes its UserRegistered event (failing on demand,
 * to make dead letters) and FulfilOrder jobs. Each command runs in-process with its output
 * collected; the types come from the descriptors the actors publish, never from local files.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Client, createClient } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  createNatsTransport,
  defineActor,
  onEvent,
  onJob,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createUserActor } from "../../actors/user/actor.ts";
import { type FulfilOrder, FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { type UserRegistered, UserRegisteredSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { consumersCommand } from "../../runtime/cli/commands/consumers-command.ts";
import { decodeCommand } from "../../runtime/cli/commands/decode-command.ts";
import { dlqCommand } from "../../runtime/cli/commands/dlq-command.ts";
import { enqueueCommand } from "../../runtime/cli/commands/enqueue-command.ts";
import { publishCommand } from "../../runtime/cli/commands/publish-command.ts";
import { streamsCommand } from "../../runtime/cli/commands/streams-command.ts";
import { parseTailArgs, tailCommand } from "../../runtime/cli/commands/tail-command.ts";
import { cliUsage, runCli } from "../../runtime/cli/run-cli.ts";
import type { CommandIo, TrafficCommand } from "../../runtime/cli/traffic/nats-target.ts";
import { parseSince } from "../../runtime/cli/traffic/since.ts";
import { deferred, withTimeout } from "../support/jetstream-test-kit.ts";
import { recorder } from "../support/shop-fixture.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "clitest";

/** A command's run with its output collected; `until` resolves once a stderr line matches. */
function runCommand(command: TrafficCommand, args: readonly string[], stdin: Uint8Array = new Uint8Array()) {
  const out: string[] = [];
  const err: string[] = [];
  const stop = new AbortController();
  const waiters: { match: RegExp; resolve: () => void }[] = [];
  const io: CommandIo = {
    out: (line) => out.push(...line.split("\n")),
    err: (line) => {
      err.push(line);
      for (const w of waiters) if (w.match.test(line)) w.resolve();
    },
    readStdin: async () => stdin,
    signal: stop.signal,
  };
  const code = command.run(args, io);
  return {
    out,
    err,
    code,
    stop: () => stop.abort(),
    /** Resolves when stderr has a line matching `match` (the command is ready). */
    until(match: RegExp): Promise<void> {
      if (err.some((line) => match.test(line))) return Promise.resolve();
      const ready = deferred<void>();
      waiters.push({ match, resolve: ready.resolve });
      return withTimeout(
        Promise.race([
          ready.promise,
          code.then((c) => Promise.reject(new Error(`exited ${c}: ${err.join("\n")}`))),
        ]),
        20_000,
        () => `no "${match}" on stderr: ${err.join("\n")}`,
      );
    },
  };
}

async function finished(run: ReturnType<typeof runCommand>, expected = 0): Promise<string[]> {
  const code = await withTimeout(run.code, 30_000, () => `still running; stderr: ${run.err.join("\n")}`);
  assert.equal(code, expected, `exit code; stderr: ${run.err.join("\n")}`);
  return run.out;
}

describe("troupe tail, decode, publish, enqueue, streams, consumers, dlq", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let users: Client<typeof UserService>;
  const actors: RunningActor[] = [];
  const connections: NatsConnection[] = [];
  const welcomed = recorder<UserRegistered>("welcomer");
  const jobs = recorder<FulfilOrder>("fulfiller");
  let failing = false;
  let server_: string;

  const welcomer = defineActor({
    name: "welcomer",
    version: "1.0.0",
    description: "welcomes new users (and fails on demand), fulfils orders",
    consumes: { events: [UserRegisteredSchema], jobs: [FulfilOrderSchema] },
    subscriptions: () => [
      onEvent(
        UserRegisteredSchema,
        (event) => {
          if (failing) throw new Error("the welcome desk is closed");
          welcomed.add(event);
        },
        { maxAttempts: 1, ackWaitMs: 2_000 },
      ),
      onJob(FulfilOrderSchema, (job) => {
        jobs.add(job);
      }),
    ],
  });

  const flags = () => ["--server", server_, "--namespace", NAMESPACE];

  before(async () => {
    server = await startNatsServer();
    server_ = server.url;
    nc = await connect({ servers: server.url });
    for (const actor of [createUserActor({ announceSweep: { intervalMs: 60_000 } }), welcomer]) {
      const own = await connect({ servers: server.url });
      connections.push(own);
      actors.push(await serveActor(own, actor, { logger: silentLogger, namespace: NAMESPACE }));
    }
    users = createClient(UserService, createNatsTransport({ nc, namespace: NAMESPACE }));
  });

  after(async () => {
    await Promise.all(actors.map((a) => a.drain(0)));
    await Promise.all(connections.map((c) => c.close()));
    await nc?.close();
    await server?.dispose();
  });

  let registered = 0;
  async function register(): Promise<string> {
    registered++;
    const { user } = await users.registerUser({
      idempotencyKey: `key-${registered}-${Date.now()}`,
      email: `ada${registered}@example.com`,
      displayName: `Ada ${registered}`,
    });
    assert.ok(user);
    return user.id;
  }

  test("the help lists the verbs; bad arguments are usage errors", async () => {
    const usage = cliUsage();
    for (const verb of ["tail", "decode", "publish", "enqueue", "streams", "consumers", "dlq"]) {
      assert.match(usage, new RegExp(`\\n  ${verb} +\\S`), `${verb} is in the help`);
    }
    const err: string[] = [];
    const io = { out: () => {}, err: (t: string) => err.push(t) };
    assert.equal(await runCli(["tail"], undefined, io), 2);
    assert.match(err.join("\n"), /troupe tail: a subject pattern is needed[\s\S]*Usage: troupe tail/);
    assert.equal(await runCli(["tail", "evt.>.x"], undefined, io), 2);
    assert.equal(await runCli(["tail", "evt.>", "--since", "yesterday"], undefined, io), 2);
    assert.equal(await runCli(["dlq", "show", "x"], undefined, io), 2);
    assert.equal(await runCli(["dlq", "purge", "--server", server_], undefined, io), 2);
    assert.match(err.join("\n"), /purge deletes dead letters for good; add --yes/);

    const now = new Date("2026-12-02T12:00:00Z");
    assert.equal(parseSince("1h30m", now).toISOString(), "2026-12-02T10:30:00.000Z");
    assert.equal(parseSince("2026-12-02T11:00:00Z", now).toISOString(), "2026-12-02T11:00:00.000Z");
    const parsed = parseTailArgs(["evt.>", "--count", "3", "--server", "nats://a:1,nats://b:2"]);
    assert.notEqual(parsed, "help");
    if (parsed !== "help") assert.deepEqual(parsed.target.servers, ["nats://a:1", "nats://b:2"]);
  });

  test("an unreachable server is one line on stderr and exit 1", TIMEOUT, async () => {
    const run = runCommand(streamsCommand, ["--server", "nats://127.0.0.1:1"]);
    await finished(run, 1);
    assert.equal(run.err.length, 1);
    assert.match(run.err[0] ?? "", /^troupe streams: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: /);
  });

  test("tail 'evt.>' prints a UserRegistered as it is published", TIMEOUT, async () => {
    const tail = runCommand(tailCommand, ["evt.>", "--json", "--count", "1", ...flags()]);
    await tail.until(/following clitest\.evt\.>/);
    const id = await register();
    const [line] = await finished(tail);
    const record = JSON.parse(line ?? "");
    assert.equal(record.subject, `${NAMESPACE}.evt.shop.v1.UserRegistered.${id}`);
    assert.equal(record.kind, "event");
    assert.equal(record.type, "shop.v1.UserRegistered");
    assert.equal(record.body.userId, id);
    assert.equal(record.body.email, `ada${registered}@example.com`);
    assert.equal(typeof record.id, "string", "the message id, from Nats-Msg-Id");
    assert.ok(!Number.isNaN(Date.parse(record.time)));
  });

  test("tail 'rpc.>' shows a request and the reply it observed", TIMEOUT, async () => {
    const id = await register();
    const tail = runCommand(tailCommand, [
      "rpc.shop.v1.UserService.GetUser",
      "--count",
      "2",
      "--json",
      ...flags(),
    ]);
    await tail.until(/following/);
    await users.getUser({ id });
    const [request, reply] = (await finished(tail)).map((l) => JSON.parse(l));
    assert.equal(request.kind, "request");
    assert.equal(request.method, "shop.v1.UserService.GetUser");
    assert.deepEqual(request.body, { id });
    assert.equal(reply.kind, "response");
    assert.equal(reply.subject, `${NAMESPACE}.rpc.shop.v1.UserService.GetUser`);
    assert.match(reply.replyTo, /^_INBOX\./);
    assert.equal(reply.type, "shop.v1.GetUserResponse");
    assert.equal(reply.body.user.id, id);
  });

  test("tail --since replays the stream, then follows it", TIMEOUT, async () => {
    const first = await register();
    const second = await register();
    const tail = runCommand(tailCommand, [
      "evt.shop.v1.UserRegistered.*",
      "--since",
      "10m",
      "--json",
      ...flags(),
    ]);
    await tail.until(/replaying clitest_EVT_shop_v1 from/);
    const third = await register();
    const jsm = await jetstreamManager(nc);
    await withTimeout(
      (async () => {
        while (!tail.out.some((l) => l.includes(third))) await new Promise((r) => setImmediate(r));
      })(),
      20_000,
      () => `the live event never came: ${tail.out.join("\n")}`,
    );
    tail.stop();
    const records = (await finished(tail)).map((l) => JSON.parse(l));
    const ids = records.map((r) => r.body.userId);
    for (const id of [first, second, third]) assert.ok(ids.includes(id), `${id} in ${ids.join(", ")}`);
    assert.ok(ids.indexOf(first) < ids.indexOf(second) && ids.indexOf(second) < ids.indexOf(third));
    assert.equal(new Set(ids).size, ids.length, "each event once");
    const stored = await jsm.streams.getMessage(`${NAMESPACE}_EVT_shop_v1`, { seq: records[0].seq });
    assert.equal(stored?.subject, records[0].subject, "seq is the stream sequence");
    assert.equal(records[0].stream, `${NAMESPACE}_EVT_shop_v1`);
  });

  test(
    "tail 'job.>' --since reads the work queue, then shows jobs as they are enqueued",
    TIMEOUT,
    async () => {
      const tail = runCommand(tailCommand, ["job.>", "--since", "10m", "--count", "1", "--json", ...flags()]);
      await tail.until(/replaying clitest_JOB_shop_v1_FulfilOrder from/);
      await finished(runCommand(enqueueCommand, ["FulfilOrder", '{"orderId":"o-tail"}', ...flags()]));
      const [record] = (await finished(tail)).map((l) => JSON.parse(l));
      assert.equal(record.subject, `${NAMESPACE}.job.shop.v1.FulfilOrder`);
      assert.equal(record.kind, "job");
      assert.deepEqual(record.body, { orderId: "o-tail" });
      const rpc = runCommand(tailCommand, ["rpc.>", "--since", "1h", ...flags()]);
      await finished(rpc, 1);
      assert.match(rpc.err[0] ?? "", /no Troupe stream holds clitest\.rpc\.>.*RPC calls are not stored/);
    },
  );

  test("decode reads a captured payload on stdin", TIMEOUT, async () => {
    const sub = nc.subscribe(`${NAMESPACE}.evt.shop.v1.UserRegistered.*`, { max: 1 });
    const captured = (async () => {
      for await (const m of sub) return m;
      throw new Error("no event");
    })();
    await nc.flush();
    const id = await register();
    const msg: Msg = await withTimeout(captured, 10_000, () => "no event captured");
    const run = runCommand(decodeCommand, [msg.subject, ...flags()], msg.data);
    const [line] = await finished(run);
    const decoded = JSON.parse(line ?? "");
    assert.equal(decoded.type, "shop.v1.UserRegistered");
    assert.equal(decoded.body.userId, id);
    const body = runCommand(decodeCommand, [msg.subject, "--body", ...flags()], msg.data);
    assert.deepEqual(JSON.parse((await finished(body))[0] ?? ""), decoded.body);

    const garbage = runCommand(decodeCommand, [msg.subject, ...flags()], new Uint8Array([0xff, 0xff, 0xff]));
    await finished(garbage, 1);
    assert.match(garbage.err.join("\n"), /^troupe decode: .*shop\.v1\.UserRegistered/);
    const foreign = runCommand(decodeCommand, ["orders.created", ...flags()], msg.data);
    await finished(foreign, 1);
    assert.match(foreign.err.join("\n"), /orders\.created is not a Troupe subject under namespace "clitest"/);
  });

  test("publish and enqueue reach the consumers and print the stream sequence", TIMEOUT, async () => {
    const publish = runCommand(publishCommand, [
      "UserRegistered",
      '{"userId":"u-cli","email":"cli@example.com","displayName":"From the CLI"}',
      "--json",
      ...flags(),
    ]);
    const ack = JSON.parse((await finished(publish))[0] ?? "");
    const event = await welcomed.next((e) => e.userId === "u-cli", "the published event");
    assert.equal(event.email, "cli@example.com");
    assert.equal(ack.type, "shop.v1.UserRegistered");
    assert.equal(ack.stream, `${NAMESPACE}_EVT_shop_v1`);
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(ack.stream, { seq: ack.seq });
    assert.equal(stored?.subject, `${NAMESPACE}.evt.shop.v1.UserRegistered.u-cli`, "keyed by user_id");
    assert.equal(stored?.header.get("Nats-Msg-Id"), ack.id);

    const enqueue = runCommand(enqueueCommand, ["shop.v1.FulfilOrder", '{"orderId":"o-cli"}', ...flags()]);
    const table = await finished(enqueue);
    assert.match(table[0] ?? "", /^TYPE +STREAM +SEQ +ID +DUPLICATE$/);
    const row = /^shop\.v1\.FulfilOrder +clitest_JOB_shop_v1_FulfilOrder +(\d+) +\S+ +no$/.exec(
      table[1] ?? "",
    );
    assert.ok(row, table.join("\n"));
    const queue = await jsm.streams.info(`${NAMESPACE}_JOB_shop_v1_FulfilOrder`);
    assert.equal(Number(row[1]), queue.state.last_seq, "the sequence the work queue gave it");
    assert.equal((await jobs.next((j) => j.orderId === "o-cli", "the enqueued job")).orderId, "o-cli");

    const unknown = runCommand(publishCommand, ["NoSuchEvent", "{}", ...flags()]);
    await finished(unknown, 1);
    assert.match(unknown.err[0] ?? "", /^troupe publish: no running service describes a message NoSuchEvent/);
    const wrong = runCommand(publishCommand, ["UserRegistered", '{"nope":1}', ...flags()]);
    await finished(wrong, 1);
    assert.match(wrong.err[0] ?? "", /the JSON is not a shop\.v1\.UserRegistered/);
  });

  test("streams and consumers show what JetStream reports", TIMEOUT, async () => {
    const jsm = await jetstreamManager(nc);
    const streams = JSON.parse(
      (await finished(runCommand(streamsCommand, ["--json", ...flags()]))).join("\n"),
    );
    const names = streams.map((s: { name: string }) => s.name);
    assert.deepEqual(names, [...names].sort());
    assert.ok(
      names.includes(`${NAMESPACE}_EVT_shop_v1`) && names.includes(`${NAMESPACE}_JOB_shop_v1_FulfilOrder`),
    );
    assert.ok(!names.some((n: string) => n.startsWith("KV_")), "KV buckets only with --all");
    for (const row of streams) {
      const info = await jsm.streams.info(row.name);
      assert.equal(row.messages, info.state.messages, `${row.name} messages`);
      assert.equal(row.bytes, info.state.bytes, `${row.name} bytes`);
      assert.deepEqual(row.subjects, info.config.subjects);
      assert.equal(row.replicas, info.config.num_replicas);
    }
    const table = await finished(runCommand(streamsCommand, flags()));
    assert.match(table[0] ?? "", /^STREAM +MESSAGES +BYTES +REPLICAS +CONSUMERS +RETENTION +SUBJECTS$/);

    const stream = `${NAMESPACE}_EVT_shop_v1`;
    const consumers = JSON.parse(
      (await finished(runCommand(consumersCommand, [stream, "--json", ...flags()]))).join("\n"),
    );
    const row = consumers.find((c: { name: string }) => c.name === "welcomer_UserRegistered");
    assert.ok(row, JSON.stringify(consumers));
    const info = await jsm.consumers.info(stream, "welcomer_UserRegistered");
    assert.equal(row.pending, info.num_pending);
    assert.equal(row.ackPending, info.num_ack_pending);
    assert.equal(row.redelivered, info.num_redelivered);
    assert.equal(row.lag, info.num_pending + info.num_ack_pending);
    assert.equal(row.delivered, info.delivered.stream_seq);
    const missing = runCommand(consumersCommand, ["NO_SUCH", ...flags()]);
    await finished(missing, 1);
    assert.match(missing.err[0] ?? "", /there is no stream NO_SUCH/);
  });

  test("dlq: a dead letter is listed, shown decoded, redriven and handled, and purged", TIMEOUT, async () => {
    const nextDead = async () => {
      const dead = nc.subscribe(`${NAMESPACE}.dlq.>`, { max: 1 });
      await nc.flush();
      const letter = (async () => {
        for await (const m of dead) return m;
        throw new Error("closed");
      })();
      return { letter };
    };
    failing = true;
    const firstDead = await nextDead();
    const publish = runCommand(publishCommand, [
      "UserRegistered",
      '{"userId":"u-dead","email":"d@example.com"}',
      ...flags(),
    ]);
    await finished(publish);
    await withTimeout(firstDead.letter, 20_000, () => "no dead letter");

    const ls = JSON.parse((await finished(runCommand(dlqCommand, ["ls", "--json", ...flags()]))).join("\n"));
    const letter = ls.find(
      (l: { subject: string }) => l.subject === `${NAMESPACE}.evt.shop.v1.UserRegistered.u-dead`,
    );
    assert.ok(letter, JSON.stringify(ls));
    assert.equal(letter.consumer, "welcomer_UserRegistered");
    assert.equal(letter.code, "unknown", "a plain Error is code unknown");
    assert.match(letter.error, /the welcome desk is closed/);
    assert.equal(letter.deliveryCount, 1);
    const table = await finished(runCommand(dlqCommand, ["ls", ...flags()]));
    assert.match(table[0] ?? "", /^SEQ +DEAD AT +SUBJECT +CONSUMER +CODE +DELIVERIES +ERROR$/);

    const shown = JSON.parse(
      (await finished(runCommand(dlqCommand, ["show", String(letter.seq), "--json", ...flags()]))).join("\n"),
    );
    assert.equal(shown.type, "shop.v1.UserRegistered");
    assert.deepEqual(shown.body, { userId: "u-dead", email: "d@example.com" });
    const text = (await finished(runCommand(dlqCommand, ["show", String(letter.seq), ...flags()]))).join(
      "\n",
    );
    assert.match(text, /why +unknown after 1 delivery: .*the welcome desk is closed/);
    assert.match(text, /"userId": "u-dead"/);

    failing = false;
    const redrive = runCommand(dlqCommand, ["redrive", String(letter.seq), "--json", ...flags()]);
    const [redriven] = JSON.parse((await finished(redrive)).join("\n"));
    assert.equal(redriven.seq, letter.seq);
    assert.equal(redriven.stream, `${NAMESPACE}_EVT_shop_v1`);
    assert.equal(
      (await welcomed.next((e) => e.userId === "u-dead", "the redriven event")).email,
      "d@example.com",
    );
    const after = JSON.parse(
      (await finished(runCommand(dlqCommand, ["ls", "--json", ...flags()]))).join("\n"),
    );
    assert.ok(!after.some((l: { seq: number }) => l.seq === letter.seq), "a redriven letter leaves the DLQ");
    const again = runCommand(dlqCommand, ["show", String(letter.seq), ...flags()]);
    await finished(again, 1);
    assert.match(again.err[0] ?? "", /has no dead letter/);

    failing = true;
    const secondDead = await nextDead();
    await finished(runCommand(publishCommand, ["UserRegistered", '{"userId":"u-purge"}', ...flags()]));
    await withTimeout(secondDead.letter, 20_000, () => "no second dead letter");
    failing = false;
    const purged = await finished(
      runCommand(dlqCommand, ["purge", "--yes", "--consumer", "welcomer_UserRegistered", ...flags()]),
    );
    assert.deepEqual(purged, ["purged 1 dead letter"]);
    assert.deepEqual(await finished(runCommand(dlqCommand, ["ls", ...flags()])), ["no dead letters"]);
  });
});
