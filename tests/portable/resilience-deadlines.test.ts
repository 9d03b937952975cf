/**
 * Deadlines that nested work inherits: a call made through `ctx.client` inside a handler gets
 * the handled call's remaining time (not a fresh timeout), so a deadline set at the caller
 * expires in the third hop, not later; an event published inside a handler carries the same
 * deadline as `troupe-deadline`; a nested call whose time is up is not sent.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  FaultReplySchema,
  FaultService,
  ReadRequestSchema,
} from "../../proto/gen/troupe/testing/v1/fault_pb.ts";
import {
  connect,
  createCallPolicies,
  createNatsTransport,
  defineActor,
  eventStreamName,
  Header,
  implement,
  runInCallScope,
  serveActor,
  serveGateway,
  silentLogger,
} from "../../runtime/mod.ts";
import { startNatsServer } from "../../runtime/testing.ts";
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

test("an event published inside a handler expires with the handled call", TIMEOUT, async () => {
  await using server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  const actor = await serveActor(
    nc,
    defineActor({
      name: "publisher",
      version: "1.0.0",
      description: "publishes inside a handler",
      publishes: { events: [FaultReplySchema] },
      services: (ctx) => [
        implement(FaultService, {
          async read(req) {
            const inherited = await ctx.publish(
              FaultReplySchema,
              { instance: "inherited" },
              { key: req.fault?.key ?? "k" },
            );
            const own = await ctx.publish(FaultReplySchema, { instance: "own" }, { inheritDeadline: false });
            return { reply: { instance: `${inherited.seq},${own.seq}` } };
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
    const [inheritedSeq, ownSeq] = (reply?.instance ?? "").split(",").map(Number);
    const jsm = await jetstreamManager(nc);
    const stream = eventStreamName(FaultReplySchema.file.proto.package);
    const inherited = await jsm.streams.getMessage(stream, { seq: inheritedSeq ?? 0 });
    const deadline = Number(inherited?.header.get(Header.deadline));
    assert.ok(
      deadline > before && deadline <= before + 3_000 + 50,
      `troupe-deadline ${deadline - before} ms after the call`,
    );
    const own = await jsm.streams.getMessage(stream, { seq: ownSeq ?? 0 });
    assert.equal(own?.header?.get(Header.deadline) ?? "", "", "inheritDeadline: false publishes without one");
  } finally {
    await actor.drain(1_000);
    await nc.close();
  }
});

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
