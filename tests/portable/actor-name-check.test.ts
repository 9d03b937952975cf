/**
 * Folder = actor name (runtime/process/run-actor.ts): an actor process started as TROUPE_ACTOR_NAME
 * (what `troupe dev` sets to the folder name) refuses at once, with a line naming its main file
 * and both names, to run under another `defineActor` name; under its own name it starts. The
 * process runs on the runtime of the test.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startNatsServer } from "troupe/testing";
import { runtimeInfo } from "../../runtime/platform/runtime-info.ts";
import { spawnProcess } from "../../runtime/platform/spawn-process.ts";
import { actorNameMismatch } from "../../runtime/process/run-actor.ts";
import {
  commandFor,
  exitWithin,
  type JsRuntime,
  REPO_ROOT,
  startActorProcess,
} from "../support/actor-process.ts";

// The fault actor defines the actor "fault".
const FILE = "tests/support/fault-actor-main.ts";
const runtime = runtimeInfo().name as JsRuntime;

let server: Awaited<ReturnType<typeof startNatsServer>>;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server[Symbol.asyncDispose]();
});

test("the check: only a different expected name is refused, and the message says what to rename", () => {
  assert.equal(actorNameMismatch(undefined, "fault", undefined), undefined, "outside troupe dev: no check");
  assert.equal(actorNameMismatch("fault", "fault", "actors/fault/main.ts"), undefined);
  assert.equal(
    actorNameMismatch("foo", "bar", "actors/foo/main.ts"),
    "actors/foo/main.ts defines actor 'bar'; rename the folder or the actor (an actor's folder name is its name)",
  );
  assert.match(actorNameMismatch("foo", "bar", undefined) ?? "", /started as 'foo' defines actor 'bar'/);
});

test("an actor started under another name exits 1 at once, before it serves anything", {
  timeout: 60_000,
}, async () => {
  const { command, args } = commandFor(runtime, FILE);
  const child = spawnProcess(command, args, {
    cwd: REPO_ROOT,
    // A reachable server: without the check the actor would start and serve as "fault".
    env: { NATS_URL: server.url, TROUPE_ACTOR_NAME: "faults", TROUPE_ACTOR_FILE: "actors/faults/main.ts" },
  });
  // Without the check it would run on: it is killed after a while, and the test fails.
  const status = await exitWithin(child, 30_000);
  const output = child.output();
  assert.deepEqual(status, { code: 1, signal: null }, output);
  assert.match(
    output,
    /"msg":"actors\/faults\/main\.ts defines actor 'fault'; rename the folder or the actor/,
  );
  assert.doesNotMatch(output, /"actor ready"/);
});

test("an actor started under its own name starts", { timeout: 60_000 }, async () => {
  await using actor = await startActorProcess({
    runtime,
    file: FILE,
    natsUrl: server.url,
    env: { TROUPE_ACTOR_NAME: "fault", TROUPE_ACTOR_FILE: "actors/fault/main.ts" },
  });
  assert.equal(actor.ready.actor, "fault");
});
