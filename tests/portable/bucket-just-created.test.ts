/**
 * A bucket declared at the same moment by several processes of a cluster may be "not found" for a
 * moment by the server a process asks next (the chaos suite's cluster topology saw an actor fail
 * its start on it). `whileJustCreated` asks again for a few seconds, and only for that error.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { JetStreamApiError } from "@nats-io/jetstream";
import { whileJustCreated } from "../../runtime/jetstream/state-reconcile.ts";

const notFound = () => new JetStreamApiError({ code: 404, err_code: 10059, description: "stream not found" });

test("a stream not found just after it was declared is asked for again", async () => {
  let calls = 0;
  const answer = await whileJustCreated(async () => {
    if (++calls <= 2) throw notFound();
    return "found";
  });
  assert.equal(answer, "found");
  assert.equal(calls, 3);
});

test("any other error is thrown at once", async () => {
  let calls = 0;
  await assert.rejects(
    whileJustCreated(async () => {
      calls++;
      throw new JetStreamApiError({ code: 400, err_code: 10058, description: "stream name already in use" });
    }),
    /already in use/,
  );
  assert.equal(calls, 1);
});

test("a stream still not found after the grace is not found", { timeout: 15_000 }, async () => {
  let calls = 0;
  const started = Date.now();
  await assert.rejects(
    whileJustCreated(async () => {
      calls++;
      throw notFound();
    }),
    /stream not found/,
  );
  assert.ok(calls > 3, `asked ${calls} times`);
  assert.ok(Date.now() - started < 6_000, "gave up within the grace");
});
