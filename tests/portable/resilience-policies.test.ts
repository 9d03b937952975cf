/**
 * Client-side resilience policies against a real nats-server and the fault-injection actor
 * (tests/support/fault-actor.ts): retries only where the contract allows them and only within
 * the retry budget, the circuit breaker's states, the bulkhead, and hedged reads.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport, type RunningActor, serveActor, silentLogger } from "troupe";
import {
  type CallPolicies,
  type CallPoliciesInit,
  createCallPolicies,
  policyInterceptor,
  type TargetSnapshot,
} from "troupe/resilience";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FaultService } from "../../proto/gen/troupe/testing/v1/fault_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { createFaultActor, createFaultProbe } from "../support/fault-actor.ts";

const TIMEOUT = { timeout: 30_000 };
const TARGET = FaultService.typeName;
/** Quick retries, no breaker: what most tests want to observe. */
const FAST: CallPoliciesInit = {
  defaults: { retry: { initialDelayMs: 1, maxDelayMs: 5 }, breaker: { enabled: false } },
};

describe("call policies", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let actor: RunningActor;
  const probe = createFaultProbe();

  before(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
    actor = await serveActor(nc, createFaultActor({ name: "fault", probe }), { logger: silentLogger });
  });
  after(async () => {
    await actor?.drain(1_000);
    await nc?.close();
    await server?.stop();
  });

  const clientWith = (policies: CallPolicies) =>
    createClient(FaultService, createNatsTransport({ nc, policies }));
  const targetOf = (policies: CallPolicies): TargetSnapshot => {
    const found = policies.snapshot().targets.find((t) => t.target === TARGET);
    assert.ok(found, "the target is in the snapshot");
    return found;
  };

  test("an idempotent read is retried on `unavailable` until it answers", TIMEOUT, async () => {
    const policies = createCallPolicies(FAST);
    const { reply } = await clientWith(policies).read({ fault: { key: "retry-ok", failFirst: 2 } });
    assert.equal(reply?.calls, 3);
    assert.equal(targetOf(policies).retries, 2);
    assert.equal(targetOf(policies).failures, 0);
  });

  test("as a Connect interceptor the same policies retry, with a timeout per attempt", TIMEOUT, async () => {
    const policies = createCallPolicies({
      defaults: { ...FAST.defaults, retry: { ...FAST.defaults?.retry, attemptTimeoutMs: 200 } },
    });
    const client = createClient(
      FaultService,
      createNatsTransport({ nc, interceptors: [policyInterceptor(policies)] }),
    );
    const { reply } = await client.read({ fault: { key: "interceptor", failFirst: 1 } });
    assert.equal(reply?.calls, 2);
    // The first attempt stalls past its own timeout; the retry answers.
    const started = performance.now();
    const slow = await client.read({ fault: { key: "interceptor-slow", delayMs: 5_000, slowFirst: 1 } });
    assert.equal(slow.reply?.calls, 2);
    assert.ok(performance.now() - started < 2_000);
    assert.equal(targetOf(policies).retries, 2);
  });

  test("a method whose contract promises no idempotency is never retried", TIMEOUT, async () => {
    const policies = createCallPolicies(FAST);
    const error = await connectErrorOf(
      clientWith(policies).write({ fault: { key: "write-once", failFirst: 1 } }),
    );
    assert.equal(error.code, Code.Unavailable);
    assert.equal(probe.calls.get("write-once"), 1);
    assert.equal(targetOf(policies).retries, 0);
    // Opting the method in makes it retryable.
    const optedIn = createCallPolicies({
      ...FAST,
      methods: { [`${TARGET}/Write`]: { retry: { optIn: true } } },
    });
    const { reply } = await clientWith(optedIn).write({ fault: { key: "write-opt-in", failFirst: 1 } });
    assert.equal(reply?.calls, 2);
  });

  test("retries stop at the retry budget", TIMEOUT, async () => {
    // 10% of the calls plus a floor of 0.5/s over 10 s: at most 5 + 0.1 × 40 = 9 retries.
    const policies = createCallPolicies({
      ...FAST,
      defaults: { ...FAST.defaults, budget: { ratio: 0.1, minRetriesPerSecond: 0.5, windowMs: 10_000 } },
    });
    const client = clientWith(policies);
    for (let i = 0; i < 40; i++) {
      const error = await connectErrorOf(client.read({ fault: { key: "budget", failFirst: 1_000 } }));
      assert.equal(error.code, Code.Unavailable);
    }
    const target = targetOf(policies);
    assert.ok(target.retries <= 9, `${target.retries} retries, budget 9`);
    assert.ok(target.retries >= 5, `the floor allows retries: ${target.retries}`);
    assert.ok(target.budgetExhausted > 0);
    // The server saw each call once plus the retries, not 3 × 40.
    assert.equal(probe.calls.get("budget"), 40 + target.retries);
  });

  test("the breaker opens, half-opens and closes", TIMEOUT, async () => {
    const policies = createCallPolicies({
      ...FAST,
      defaults: {
        breaker: {
          enabled: true,
          failureRatio: 0.5,
          windowMs: 5_000,
          minCallsPerSecond: 1,
          halfOpenAfterMs: 300,
        },
      },
    });
    const client = clientWith(policies);
    // Writes are not retried, so the breaker sees each failure once.
    let opened = false;
    for (let i = 0; i < 20 && !opened; i++) {
      await connectErrorOf(client.write({ fault: { key: "breaker", failFirst: 1_000 } }));
      opened = targetOf(policies).breaker === "open";
    }
    assert.ok(opened, "the breaker opened");
    const seen = probe.calls.get("breaker");
    const refused = await connectErrorOf(client.write({ fault: { key: "breaker" } }));
    assert.equal(refused.code, Code.Unavailable);
    assert.match(refused.message, /circuit .* is open/);
    assert.equal(probe.calls.get("breaker"), seen, "an open circuit sends nothing");
    assert.equal(targetOf(policies).shortCircuited, 1);

    // After halfOpenAfterMs the next call is the probe: the circuit is half-open while it runs…
    await new Promise((resolve) => setTimeout(resolve, 350));
    const probeCall = client.read({ fault: { key: "breaker-probe", delayMs: 200 } });
    while (probe.calls.get("breaker-probe") === undefined) await nc.flush();
    assert.equal(targetOf(policies).breaker, "half_open");
    // …and closes when it succeeds.
    await probeCall;
    assert.equal(targetOf(policies).breaker, "closed");
    await client.read({ fault: { key: "breaker-after" } });
  });

  test("the bulkhead caps the calls in flight to a target", TIMEOUT, async () => {
    const policies = createCallPolicies({
      ...FAST,
      defaults: { bulkhead: { maxConcurrent: 2, maxQueued: 8 } },
    });
    const client = clientWith(policies);
    const calls = Array.from({ length: 8 }, () => client.read({ fault: { key: "bulkhead", delayMs: 30 } }));
    await Promise.all(calls);
    assert.equal(probe.maxConcurrent.get("bulkhead"), 2);

    // With no queue, a call past the limit fails at once, unsent, as resource_exhausted.
    const noQueue = clientWith(
      createCallPolicies({ ...FAST, defaults: { bulkhead: { maxConcurrent: 1, maxQueued: 0 } } }),
    );
    const first = noQueue.read({ fault: { key: "bulkhead-full", delayMs: 100 } });
    const error = await connectErrorOf(noQueue.read({ fault: { key: "bulkhead-full" } }));
    assert.equal(error.code, Code.ResourceExhausted);
    await first;
    assert.equal(probe.calls.get("bulkhead-full"), 1);
  });

  test("a hedged read answers from the second attempt when the first is slow", TIMEOUT, async () => {
    const policies = createCallPolicies({
      ...FAST,
      defaults: { hedge: { enabled: true, delayMs: 50, maxAttempts: 2 } },
    });
    const started = performance.now();
    const { reply } = await clientWith(policies).read({
      fault: { key: "hedge", delayMs: 5_000, slowFirst: 1 },
    });
    assert.ok(performance.now() - started < 2_000, "did not wait for the slow attempt");
    assert.equal(reply?.calls, 2);
    assert.equal(targetOf(policies).hedges, 1);
    // Writes are never hedged.
    const write = await clientWith(policies).write({ fault: { key: "hedge-write", delayMs: 100 } });
    assert.equal(write.reply?.calls, 1);
  });
});
