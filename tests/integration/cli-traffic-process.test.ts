/**
 * The traffic verbs as processes, the way a shell and the nats CLI's `--translate` run them
 * (runtime/bin/troupe.js): `troupe decode <subject>` with the payload on its stdin, and
 * `troupe tail` printing as events pass and exiting 0 on SIGINT. The shop's user actor runs
 * in-process against a real nats-server; tests/portable/cli-traffic.test.ts covers the rest.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport, type RunningActor, serveActor, silentLogger } from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createUserActor } from "../../actors/user/actor.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { REPO_ROOT } from "../support/actor-process.ts";
import { deferred, withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };
const TROUPE = join(REPO_ROOT, "runtime", "bin", "troupe.js");

interface Run {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout or stderr holds `match`. */
  until(match: RegExp, stream: "stdout" | "stderr"): Promise<void>;
  readonly exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function troupe(args: readonly string[], stdin?: Uint8Array): Run {
  const child = spawn(process.execPath, [TROUPE, ...args], {
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.push(child);
  const text = { stdout: "", stderr: "" };
  const waiters: { match: RegExp; stream: "stdout" | "stderr"; resolve: () => void }[] = [];
  for (const stream of ["stdout", "stderr"] as const) {
    child[stream]?.setEncoding("utf8");
    child[stream]?.on("data", (chunk: string) => {
      text[stream] += chunk;
      for (const w of waiters) if (w.stream === stream && w.match.test(text[stream])) w.resolve();
    });
  }
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  child.stdin?.end(stdin === undefined ? undefined : Buffer.from(stdin));
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    until(match, stream) {
      if (match.test(text[stream])) return Promise.resolve();
      const seen = deferred<void>();
      waiters.push({ match, stream, resolve: seen.resolve });
      return withTimeout(
        seen.promise,
        30_000,
        () => `no ${match} on ${stream}: ${text.stdout}${text.stderr}`,
      );
    },
  };
}

describe("troupe decode and tail as processes", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let actor: RunningActor;
  let own: NatsConnection;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    own = await connect({ servers: server.url });
    actor = await serveActor(own, createUserActor({ announceSweep: { intervalMs: 60_000 } }), {
      logger: silentLogger,
    });
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await actor?.drain(0);
    await own?.close();
    await nc?.close();
    await server?.dispose();
  });

  const register = (n: number) =>
    createClient(UserService, createNatsTransport({ nc })).registerUser({
      idempotencyKey: `process-${n}`,
      email: `proc${n}@example.com`,
      displayName: `Process ${n}`,
    });

  test("decode reads the payload on stdin, as nats sub --translate gives it", TIMEOUT, async () => {
    const sub = nc.subscribe("evt.shop.v1.UserRegistered.*", { max: 1 });
    const captured = (async () => {
      for await (const m of sub) return m;
      throw new Error("no event");
    })();
    await nc.flush();
    const { user } = await register(1);
    const msg: Msg = await withTimeout(captured, 10_000, () => "no event captured");
    const run = troupe(["decode", msg.subject, "--body", "--server", server.url], msg.data);
    assert.equal(await run.exited, 0, run.stderr());
    const body = JSON.parse(run.stdout());
    assert.equal(body.userId, user?.id);
    assert.equal(body.email, "proc1@example.com");
  });

  test("tail prints each event as it passes and exits 0 on SIGINT", TIMEOUT, async () => {
    const run = troupe(["tail", "evt.>", "--server", server.url]);
    await run.until(/following evt\.>/, "stderr");
    const { user } = await register(2);
    await run.until(
      new RegExp(`evt\\.shop\\.v1\\.UserRegistered\\.${user?.id}  shop\\.v1\\.UserRegistered`),
      "stdout",
    );
    assert.match(run.stdout(), /"email":"proc2@example\.com"/);
    run.child.kill("SIGINT");
    assert.equal(await run.exited, 0, run.stderr());
  });
});
