/**
 * `troupe build` (runtime/cli/commands/build-command.ts): an actor bundled by the command runs as
 * its sources do. The keyed counter (KV state, placement leases, JetStream) is bundled for Node
 * and for Bun; the Node bundle runs on Node and on Deno, the Bun bundle on Bun, each started as a
 * process from the bundle alone, and each answers calls over NATS with the state it keeps. Then
 * the command's refusals: a missing file, and a bundler that cannot be run.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport } from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { CounterService } from "../../proto/gen/troupe/testing/v1/counter_pb.ts";
import { type CollectedIo, collectingIo } from "../../runtime/cli/command-io.ts";
import { type BuildTarget, parseBuildArgs, runBuild } from "../../runtime/cli/commands/build-command.ts";
import { type JsRuntime, REPO_ROOT, startActorProcess } from "../support/actor-process.ts";

const TIMEOUT = { timeout: 120_000 };
const ACTOR = "tests/support/counter-actor-main.ts";

/** Everything a command printed, out and err. */
const printed = (io: CollectedIo) => [...io.outLines, ...io.errLines].join("\n");

describe("troupe build", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const outdir = mkdtempSync(join(tmpdir(), "troupe-build-"));

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.dispose();
    rmSync(outdir, { recursive: true, force: true });
  });

  const cases: [BuildTarget, JsRuntime][] = [
    ["node", "node"],
    ["node", "deno"],
    ["bun", "bun"],
  ];
  for (const [target, runtime] of cases) {
    test(`an actor bundled for ${target} serves its calls on ${runtime}`, TIMEOUT, async () => {
      const out = join(outdir, target);
      if (!existsSync(join(out, "tests/support/counter-actor-main.js"))) {
        const io = collectingIo();
        const build = parseBuildArgs([ACTOR, "--target", target, "--outdir", out]);
        assert.notEqual(build, "help");
        if (build === "help") return;
        assert.equal(await runBuild(build, REPO_ROOT, io), 0, printed(io));
        assert.match(printed(io), /bundled 1 actor for/);
        assert.ok(readdirSync(join(out, "chunks")).length > 0, "the chunks it shares are written");
      }
      const bundle = join(out, "tests/support/counter-actor-main.js");
      await using actor = await startActorProcess({ runtime, file: bundle, natsUrl: server.url });
      // Nothing but the bundle: its log names the runtime it runs on.
      assert.match(actor.output(), new RegExp(`"runtime":"${runtime} `));
      const counters = createClient(CounterService, createNatsTransport({ nc }));
      const counterId = `bundled-${target}-${runtime}`;
      await counters.increment({ counterId, by: 2n });
      await counters.increment({ counterId, by: 3n });
      const { turn } = await counters.get({ counterId });
      assert.equal(turn?.value, 5n, "the bundled actor keeps its state");
    });
  }

  test(
    "a file that does not exist, or lies outside the project, is refused before anything runs",
    TIMEOUT,
    async () => {
      const build = parseBuildArgs(["actors/nowhere/main.ts", "--outdir", join(outdir, "none")]);
      assert.notEqual(build, "help");
      if (build === "help") return;
      await assert.rejects(
        runBuild(build, REPO_ROOT, collectingIo()),
        /no such file: actors\/nowhere\/main\.ts/,
      );
      // A file outside the project has no place under --outdir: refused, not written beside it.
      const outside = join(outdir, "outside.ts");
      writeFileSync(outside, "export {};\n");
      await assert.rejects(
        runBuild({ ...build, files: [outside] }, REPO_ROOT, collectingIo()),
        /outside\.ts is outside .*: run troupe build from a folder that contains it/,
      );
      assert.equal(existsSync(join(outdir, "none")), false);
    },
  );

  test("a bundler that fails is reported with its output, exit 1", TIMEOUT, async () => {
    // An entry that imports a module that does not exist: the bundler refuses it.
    mkdirSync(join(REPO_ROOT, ".troupe"), { recursive: true });
    const broken = join(REPO_ROOT, ".troupe", `build-test-broken-${process.pid}.ts`);
    writeFileSync(broken, 'import "./no-such-module.ts";\n');
    try {
      const io = collectingIo();
      const build = parseBuildArgs([broken, "--outdir", join(outdir, "broken")]);
      assert.notEqual(build, "help");
      if (build === "help") return;
      assert.equal(await runBuild(build, REPO_ROOT, io), 1);
      assert.match(printed(io), /Bun's bundler failed \(exit 1\)/);
      assert.match(printed(io), /no-such-module/);
    } finally {
      rmSync(broken, { force: true });
    }
  });
});
