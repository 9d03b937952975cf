/**
 * A consumer process SIGKILLed in the middle of its handlers (tests/support/jetstream-worker.ts,
 * run on the runtime running this test): its jobs are delivered again to another instance once
 * their ack wait runs out, and a natural key (a KV `create` of `effect.<order id>`) keeps each
 * effect to one, whether the dead worker got to it or not.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { enqueueJob, silentLogger } from "troupe";
import {
  consume,
  deadLetterStream,
  jobConsumer,
  jobStream,
  type RunningConsumer,
  reconcileConsumer,
  reconcileStreams,
} from "troupe/jetstream";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { isWrongLastSequence } from "../../runtime/jetstream/jetstream-errors.ts";
import { createTally, deferred, withTimeout } from "../support/jetstream-test-kit.ts";

const WORKER = join(
  import.meta.dirname ?? new URL(".", import.meta.url).pathname,
  "..",
  "support",
  "jetstream-worker.ts",
);

/** The command that runs a .ts file on the runtime running this test. */
function runtimeArgs(file: string): string[] {
  if (process.versions.deno !== undefined) return ["run", "--allow-all", file];
  return [file];
}

let server: NatsServer;
let nc: NatsConnection;
let effects: KV;
let worker: ChildProcess | undefined;
let survivor: RunningConsumer | undefined;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  const version = nc.info?.version ?? "";
  await reconcileStreams(jsm, version, [jobStream(FulfilOrderSchema), deadLetterStream()]);
  await reconcileConsumer(
    jsm,
    version,
    "JOB_shop_v1_FulfilOrder",
    jobConsumer(FulfilOrderSchema, { ackWaitMs: 1_000, maxAttempts: 5 }),
  );
  effects = await new Kvm(nc).create("effects");
});

after(async () => {
  worker?.kill("SIGKILL");
  await survivor?.stop(0);
  await nc?.close();
  await server?.dispose();
});

test("jobs of a SIGKILLed consumer go to another instance; each effect happens once", {
  timeout: 60_000,
}, async () => {
  const child = spawn(process.execPath, runtimeArgs(WORKER), {
    env: { ...process.env, NATS_URL: server.url },
    stdio: ["ignore", "pipe", "inherit"],
  });
  worker = child;
  const exited = new Promise<string | null>((resolve) => child.once("exit", (_, signal) => resolve(signal)));
  const lines: Record<string, unknown>[] = [];
  const consuming = deferred();
  const holdingBoth = deferred();
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    const complete = out.split("\n");
    out = complete.pop() ?? "";
    for (const text of complete) {
      if (!text.startsWith("{")) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      if (line.msg === "consuming") consuming.resolve();
      if (lines.filter((l) => l.msg === "holding").length === 2) holdingBoth.resolve();
    }
  });
  void exited.then(() => {
    consuming.reject(new Error("the worker exited"));
    holdingBoth.reject(new Error("the worker exited"));
  });
  await withTimeout(consuming.promise, 30_000, () => "the worker did not start consuming");

  const js = jetstream(nc);
  await enqueueJob(js, FulfilOrderSchema, { orderId: "after-1" });
  await enqueueJob(js, FulfilOrderSchema, { orderId: "before-1" });
  await withTimeout(holdingBoth.promise, 15_000, () => `worker lines: ${JSON.stringify(lines)}`);
  assert.deepEqual(
    lines
      .filter((l) => l.msg === "holding")
      .map((l) => `${l.orderId}:${l.effect}`)
      .sort(),
    ["after-1:true", "before-1:false"],
  );

  child.kill("SIGKILL");
  assert.equal(await exited, "SIGKILL");

  // Another instance: the effect is conditional on the natural key.
  const handled = createTally("survivor");
  let effectsBySurvivor = 0;
  const deliveries: string[] = [];
  survivor = await consume(
    nc,
    FulfilOrderSchema,
    { stream: "JOB_shop_v1_FulfilOrder", consumer: "FulfilOrder", kind: "job" },
    async (job, meta) => {
      deliveries.push(`${job.orderId}#${meta.deliveryCount}`);
      try {
        await effects.create(`effect.${job.orderId}`, new TextEncoder().encode("survivor"));
        effectsBySurvivor++;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err; // already done: nothing more to do
      }
      handled.add(job.orderId);
    },
    { logger: silentLogger },
  );
  await handled.reached(2, 15_000);
  assert.deepEqual(deliveries.sort(), ["after-1#2", "before-1#2"], "each job delivered again, once");
  assert.equal(effectsBySurvivor, 1, "only the job the worker had not done yet needed its effect");
  assert.equal(new TextDecoder().decode((await effects.get("effect.after-1"))?.value), "worker");
  assert.equal(new TextDecoder().decode((await effects.get("effect.before-1"))?.value), "survivor");
  const keys: string[] = [];
  for await (const key of await effects.keys()) keys.push(key);
  assert.deepEqual(keys.sort(), ["effect.after-1", "effect.before-1"], "one effect per job");
});
