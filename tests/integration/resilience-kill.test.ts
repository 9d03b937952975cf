/**
 * Killing one of three instances under load loses no call the policy may retry: three
 * fault-injection actors run as real processes (tests/support/fault-actor-main.ts), a client
 * keeps 32 idempotent reads in flight through the default policies plus an attempt timeout,
 * and one instance is SIGKILLed mid-run. The reads it held get no answer at all; each is
 * retried on a live instance after its attempt timeout, within the call's deadline.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { connect, createNatsTransport } from "troupe";
import { createCallPolicies } from "troupe/resilience";
import { startNatsServer } from "troupe/testing";
import { FaultService } from "../../proto/gen/troupe/testing/v1/fault_pb.ts";
import { startActorProcess } from "../support/actor-process.ts";

const CALLS = 1_500;
const IN_FLIGHT = 32;

test("killing one of three instances during load loses no retryable call", { timeout: 60_000 }, async () => {
  await using server = await startNatsServer({ jetstream: false });
  const start = () =>
    startActorProcess({ runtime: "bun", file: "tests/support/fault-actor-main.ts", natsUrl: server.url });
  await using a = await start();
  await using b = await start();
  await using c = await start();
  const nc = await connect({ servers: server.url });
  try {
    const policies = createCallPolicies({
      defaults: { retry: { attemptTimeoutMs: 300, maxAttempts: 4, initialDelayMs: 5, maxDelayMs: 50 } },
    });
    const client = createClient(FaultService, createNatsTransport({ nc, policies }));
    const answeredBy = new Map<string, number>();
    let done = 0;
    let killed: Promise<unknown> | undefined;
    const worker = async () => {
      while (done < CALLS) {
        const { reply } = await client.read({ fault: { key: "load", delayMs: 10 } }, { timeoutMs: 5_000 });
        const instance = reply?.instance ?? "";
        answeredBy.set(instance, (answeredBy.get(instance) ?? 0) + 1);
        done++;
        if (done === 300) killed = c.kill();
      }
    };
    // Every call must succeed: a single rejection fails the test.
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    await killed;
    assert.ok(done >= CALLS, `${done} calls answered`);
    assert.deepEqual(
      new Set(answeredBy.keys()),
      new Set([a.id, b.id, c.id]),
      "all three instances answered before the kill",
    );
    const target = policies.snapshot().targets.find((t) => t.target === FaultService.typeName);
    assert.ok(target !== undefined);
    assert.equal(target.failures, 0);
    // The calls the killed instance held were lost there and answered by a retry.
    assert.ok(target.retries >= 1, `retries: ${target.retries}`);
    assert.equal(target.breaker, "closed");
  } finally {
    await nc.close();
  }
});
