/**
 * Deadlines that nested work inherits: a call made through `ctx.client` inside a handler gets
 * the handled call's remaining time (not a fresh timeout), so a deadline set at the caller
 * expires in the third hop, not later; a job enqueued inside a handler carries that deadline as
 * `troupe-deadline` only when it asks to, an event never (docs/adr/0017-facts-never-expire.md);
 * a nested call whose time is up is not sent.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  type ActorContext,
  connect,
  createNatsTransport,
  defineActor,
  implement,
  serveActor,
  silentLogger,
} from "troupe";
import { serveGateway } from "troupe/gateway";
import { eventStreamName, Header, jobStreamName } from "troupe/protocol";
import { createCallPolicies, runInCallScope } from "troupe/resilience";
import { startNatsServer } from "troupe/testing";
import {
  FaultReplySchema,
  FaultService,
  ReadRequestSchema,
} from "../../proto/gen/troupe/testing/v1/fault_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { createFaultActor, createFaultProbe } from "../support/fault-actor.ts";

const TIMEOUT = { timeout: 30_000 };

test("a deadline set at the caller expires in the third hop, not later", TIMEOUT, async () => {
  await using server = await startNatsServer({ jetstream: false });
  const nc = await connect({ servers: server.url });
  const probe = createFaultProbe();
  // Every hop is this one actor; its ctx.client carries the default policies.
  const actor = await serveActor(nc, createFaultActor({ name: "relay", probe }), { logger: silentLogger });
  try {
    const client = createClient(FaultService, createNatsTransport({ nc }));
    const started = performance.now();
    // The last hop would take 5 s; the caller gives the whole chain 400 ms.
    const error = await connectErrorOf(
      client.relay({ hops: 3, last: { key: "relay", delayMs: 5_000 } }, { timeoutMs: 400 }),
    );
    const elapsed = performance.now() - started;
    assert.equal(error.code, Code.DeadlineExceeded);
    assert.ok(elapsed < 1_000, `the caller waited ${elapsed} ms`);
    const aborted = await probe.hopAborted(1);
    assert.equal(probe.hops.length, 3);
    assert.deepEqual(
      probe.hops.map((h) => h.hops),
      [3, 2, 1],
    );
    // Each hop had at most what the one before it had: remaining time, not a fresh timeout.
    for (const hop of probe.hops)
      assert.ok((hop.timeoutMs ?? Number.POSITIVE_INFINITY) <= 400, `${hop.timeoutMs}`);
    // (each hop's header rounds up to a whole millisecond)
    const [first, second, third] = probe.hops.map((h) => h.timeoutMs ?? 0);
    assert.ok(
      (second ?? 0) <= (first ?? 0) + 1 && (third ?? 0) <= (second ?? 0) + 1,
      `${first}, ${second}, ${third}`,
    );
    // The third hop's handler was stopped at the caller's deadline, not 10 s (the default) later.
    assert.equal(aborted.hops, 1);
    assert.ok(
      (aborted.abortedAt ?? 0) - started < 1_000,
      `third hop aborted after ${(aborted.abortedAt ?? 0) - started} ms`,
    );
  } finally {
    await actor.drain(1_000);
    await nc.close();
  }
});

test("a deadline set at the gateway expires in the third hop, not later", TIMEOUT, async () => {
  await using server = await startNatsServer({ jetstream: false });
  const nc = await connect({ servers: server.url });
  const probe = createFaultProbe();
  const actor = await serveActor(nc, createFaultActor({ name: "relay", probe }), { logger: silentLogger });
  const gateway = await serveGateway(
    { nc, services: [FaultService], logger: silentLogger },
    { port: 0, hostname: "127.0.0.1", discovery: false },
  );
  try {
    const started = performance.now();
    // An outside caller gives the whole chain 400 ms (Connect's timeout header); the last of the
    // three hops would take 5 s.
    const res = await fetch(`${gateway.url}/troupe.testing.v1.FaultService/Relay`, {
      method: "POST",
      headers: { "content-type": "application/json", [Header.timeoutMs]: "400" },
      body: JSON.stringify({ hops: 3, last: { key: "gateway", delayMs: 5_000 } }),
    });
    const elapsed = performance.now() - started;
    assert.equal(res.status, 504, "deadline_exceeded is 504 Gateway Timeout");
    assert.equal(((await res.json()) as { code: string }).code, "deadline_exceeded");
    assert.ok(elapsed < 1_000, `the caller waited ${elapsed} ms`);
    const aborted = await probe.hopAborted(1);
    assert.deepEqual(
      probe.hops.map((h) => h.hops),
      [3, 2, 1],
    );
    for (const hop of probe.hops)
      assert.ok((hop.timeoutMs ?? Number.POSITIVE_INFINITY) <= 400, `hop had ${hop.timeoutMs} ms`);
    assert.ok(
      (aborted.abortedAt ?? 0) - started < 1_000,
      `third hop aborted after ${(aborted.abortedAt ?? 0) - started} ms`,
    );
  } finally {
    await gateway.stop(1_000);
    await actor.drain(1_000);
    await nc.close();
  }
});

test(
  "an event published inside a handler never takes its deadline; a job only when it asks",
  TIMEOUT,
  async () => {
    await using server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    let context: ActorContext | undefined;
    const actor = await serveActor(
      nc,
      defineActor({
        name: "publisher",
        version: "1.0.0",
        description: "publishes and enqueues inside a handler",
        serves: [FaultService],
        publishes: { events: [FaultReplySchema], jobs: [ReadRequestSchema] },
        setup(ctx) {
          context = ctx;
        },
        services: (ctx) => [
          implement(FaultService, {
            async read(req) {
              const seqs = [
                await ctx.publish(FaultReplySchema, { instance: "event" }, { key: req.fault?.key ?? "k" }),
                await ctx.enqueue(ReadRequestSchema, {}),
                await ctx.enqueue(ReadRequestSchema, {}, { inheritDeadline: true }),
                await ctx.enqueue(ReadRequestSchema, {}, { deadlineMs: 60_000 }),
                await ctx.enqueue(ReadRequestSchema, {}, { deadlineMs: 500, inheritDeadline: true }),
              ].map((ack) => ack.seq);
              return { reply: { instance: seqs.join(",") } };
            },
          }),
        ],
      }),
      { logger: silentLogger },
    );
    try {
      const client = createClient(FaultService, createNatsTransport({ nc }));
      const before = Date.now();
      const { reply } = await client.read({ fault: { key: "k1" } }, { timeoutMs: 3_000 });
      const after = Date.now();
      const [eventSeq, plainSeq, inheritedSeq, ownSeq, shorterSeq] = (reply?.instance ?? "")
        .split(",")
        .map(Number);
      const jsm = await jetstreamManager(nc);
      const events = eventStreamName(FaultReplySchema.file.proto.package);
      const jobs = jobStreamName(ReadRequestSchema);
      const deadlineOf = async (stream: string, seq: number | undefined) => {
        const stored = await jsm.streams.getMessage(stream, { seq: seq ?? 0 });
        assert.ok(stored, `${stream} #${seq} is stored`);
        const value = stored.header?.get(Header.deadline) ?? "";
        return value === "" ? undefined : Number(value);
      };

      assert.equal(await deadlineOf(events, eventSeq), undefined, "the event has no deadline");
      assert.equal(await deadlineOf(jobs, plainSeq), undefined, "a job has none unless asked");
      const inherited = (await deadlineOf(jobs, inheritedSeq)) ?? 0;
      assert.ok(
        inherited > before && inherited <= before + 3_000 + 50,
        `inheritDeadline: the call's deadline, ${inherited - before} ms after the call`,
      );
      const own = (await deadlineOf(jobs, ownSeq)) ?? 0;
      assert.ok(own >= before + 60_000 && own <= after + 60_000, "deadlineMs alone: its own, not the call's");
      const shorter = (await deadlineOf(jobs, shorterSeq)) ?? 0;
      assert.ok(
        shorter >= before + 500 && shorter <= after + 500,
        `both: the sooner, ${shorter - before} ms after the call`,
      );

      // A handler whose deadline has passed still publishes what happened; a job that asked to
      // inherit that deadline is refused instead of being stored already expired.
      const ctx = context;
      assert.ok(ctx);
      const expired = { timeoutMs: () => -5, signal: new AbortController().signal };
      const late = await runInCallScope(expired, () =>
        ctx.publish(FaultReplySchema, { instance: "late" }, { key: "late" }),
      );
      assert.equal(await deadlineOf(events, late.seq), undefined, "published, without a deadline");
      const refused = await connectErrorOf(
        runInCallScope(expired, () => ctx.enqueue(ReadRequestSchema, {}, { inheritDeadline: true })),
      );
      assert.equal(refused.code, Code.DeadlineExceeded);
      const plain = await runInCallScope(expired, () => ctx.enqueue(ReadRequestSchema, {}));
      assert.equal(await deadlineOf(jobs, plain.seq), undefined, "a job that did not ask is not affected");
    } finally {
      await actor.drain(1_000);
      await nc.close();
    }
  },
);

test("a nested call whose time is up is refused without being sent", TIMEOUT, async () => {
  const policies = createCallPolicies();
  let sent = 0;
  const expired = { timeoutMs: () => -5, signal: new AbortController().signal };
  const error = await connectErrorOf(
    runInCallScope(expired, () =>
      policies.unary(FaultService.method.read, 10_000, undefined, async () => {
        sent++;
        return ReadRequestSchema;
      }),
    ),
  );
  assert.equal(error.code, Code.DeadlineExceeded);
  assert.equal(sent, 0);
  // Outside a handler the caller's own timeout stands.
  let seenTimeout: number | undefined;
  await policies.unary(FaultService.method.read, 1_234, undefined, async (timeoutMs) => {
    seenTimeout = timeoutMs;
  });
  assert.equal(seenTimeout, 1_234);
});
