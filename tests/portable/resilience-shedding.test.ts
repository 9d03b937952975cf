/**
 * Load shedding in the host: past its in-flight limit an actor answers `resource_exhausted`
 * at once instead of queueing the call, counts it, and keeps serving the calls it took.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { connect, createNatsTransport, serveActor, silentLogger } from "troupe";
import { startNatsServer } from "troupe/testing";
import { FaultService } from "../../proto/gen/troupe/testing/v1/fault_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { createFaultActor, createFaultProbe } from "../support/fault-actor.ts";

test("an actor over its in-flight limit sheds load with resource_exhausted", {
  timeout: 30_000,
}, async () => {
  await using server = await startNatsServer({ jetstream: false });
  const nc = await connect({ servers: server.url });
  const probe = createFaultProbe();
  const actor = await serveActor(nc, createFaultActor({ name: "shedder", probe }), {
    logger: silentLogger,
    maxInFlight: 2,
  });
  try {
    // No client policies: the host's answer is what the caller sees.
    const client = createClient(FaultService, createNatsTransport({ nc }));
    const slow = [1, 2].map(() => client.read({ fault: { key: "held", delayMs: 1_000 } }));
    while ((probe.calls.get("held") ?? 0) < 2) await nc.flush();
    const started = performance.now();
    const errors = await Promise.all(
      [1, 2, 3].map(() => connectErrorOf(client.read({ fault: { key: "shed" } }))),
    );
    const waited = performance.now() - started;
    for (const error of errors) {
      assert.equal(error.code, Code.ResourceExhausted);
      assert.match(error.message, /limit of 2 calls/);
    }
    assert.ok(waited < 500, `shed calls were answered at once, not after ${waited} ms`);
    assert.equal(probe.calls.get("shed"), undefined, "no shed call reached the handler");
    assert.equal(actor.host.shed, 3);
    await Promise.all(slow);
    // Below the limit again, it serves.
    const { reply } = await client.read({ fault: { key: "after" } });
    assert.equal(reply?.calls, 1);
  } finally {
    await actor.drain(1_000);
    await nc.close();
  }
});
