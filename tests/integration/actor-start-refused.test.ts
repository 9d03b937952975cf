/**
 * An actor whose declared stream would need a destructive migration does not start: it says why
 * in its log and exits 1, leaving the existing stream as it was.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { connect } from "troupe";
import { startNatsServer } from "troupe/testing";
import { commandFor, REPO_ROOT } from "../support/actor-process.ts";

test("a refused stream change stops the actor at start with a clear log line", {
  timeout: 30_000,
}, async () => {
  await using server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    // The user actor declares EVT_shop_v1 with limits retention; make it a work queue first.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "EVT_shop_v1",
      subjects: ["evt.shop.v1.>"],
      retention: RetentionPolicy.Workqueue,
    });

    const { command, args } = commandFor("bun", "actors/user/main.ts");
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, NATS_URL: server.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));

    assert.equal(code, 1, output);
    const line = output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string; error?: string })
      .find((l) => l.msg === "the actor cannot start");
    assert.ok(line, `a log line says the actor cannot start:\n${output}`);
    assert.match(String(line.error), /retention/);
    assert.match(String(line.error), /destructive migration/);
    assert.doesNotMatch(output, /"actor ready"/);
    const info = await jsm.streams.info("EVT_shop_v1");
    assert.equal(info.config.retention, RetentionPolicy.Workqueue, "the existing stream is untouched");
  } finally {
    await nc.close();
  }
});
