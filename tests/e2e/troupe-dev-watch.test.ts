/**
 * `troupe dev --watch` end to end, on a small project made in a temporary folder (its
 * node_modules the repository's, so `troupe` resolves as in any project): `alpha` serves the
 * test EchoService, `beta` serves nothing, both import `actors/shared/prefix.ts`, and the gateway
 * fronts EchoService over REST. The real command runs on it; the test edits files as an editor
 * would and asserts that
 *
 * - an edit of alpha's own file restarts alpha only (new pid; its new answer comes through the
 *   gateway), with one "changed, restarting" line and one "ready" line;
 * - a syntax error makes the new alpha fail to start, printed, while troupe dev and the others
 *   keep running; the next save (the fix) starts it again;
 * - an edit of the shared file restarts both actors that import it, and not the gateway;
 * - an edit of the generated contract restarts alpha, which imports it, and the gateway, which
 *   loads every contract, but not beta;
 * - Ctrl-C still stops everything with exit code 0.
 *
 * Twice: the CLI on Node (runtime/bin/troupe.js, what `npx troupe` and `npm start` run) and on
 * Bun (`bun run runtime/cli/main.ts`); their `fs.watch` are different implementations. The
 * actors run on Bun in both.
 */
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { type DevState, readDevState } from "../../runtime/cli/dev/dev-state.ts";
import { READY_LINE } from "../../runtime/cli/dev/run-dev.ts";
import { onProcessExit } from "../../runtime/platform/exit-hooks.ts";
import { type ChildProcess, processRunning, spawnProcess } from "../../runtime/platform/spawn-process.ts";
import { REPO_ROOT } from "../support/actor-process.ts";

const BIN = join(REPO_ROOT, "node_modules", ".bin");
const CLIS = [
  { runtime: "node", command: join(BIN, "node"), args: [join(REPO_ROOT, "runtime/bin/troupe.js")] },
  { runtime: "bun", command: join(BIN, "bun"), args: ["run", join(REPO_ROOT, "runtime/cli/main.ts")] },
];
const scratch = mkdtempSync(join(tmpdir(), "troupe-dev-watch-"));
// The project of the running test (one per CLI runtime).
let app = "";
let dataDir = "";
const started: ChildProcess[] = [];

after(async () => {
  for (const dev of started) {
    if (dev.exitStatus !== undefined) continue;
    dev.kill("SIGINT");
    await dev.exited;
  }
  rmSync(scratch, { recursive: true, force: true });
});

function write(path: string, text: string): void {
  mkdirSync(dirname(join(app, path)), { recursive: true });
  writeFileSync(join(app, path), text);
}

/** alpha's actor file, answering `<prefix> <version>: <text>`. */
function alphaActor(version: string): string {
  return `import { defineActor, implement } from "troupe";
import { EchoService } from "../../gen/echo_pb.ts";
import { PREFIX } from "../shared/prefix.ts";

export const alpha = defineActor({
  name: "alpha",
  version: "0.1.0",
  serves: [EchoService],
  services: () => [
    implement(EchoService, {
      async echo(request) {
        return { text: \`\${PREFIX} ${version}: \${request.text}\` };
      },
    }),
  ],
});
`;
}

function makeProject(): void {
  write("package.json", JSON.stringify({ name: "watch-demo", private: true, type: "module" }));
  write("troupe.json", JSON.stringify({ actors: "actors", contracts: "gen" }));
  symlinkSync(join(REPO_ROOT, "node_modules"), join(app, "node_modules"));
  mkdirSync(join(app, "gen"));
  copyFileSync(join(REPO_ROOT, "proto/gen/troupe/testing/v1/echo_pb.ts"), join(app, "gen/echo_pb.ts"));
  write("actors/shared/prefix.ts", `export const PREFIX = "alpha";\n`);
  write("actors/alpha/actor.ts", alphaActor("v1"));
  write(
    "actors/alpha/main.ts",
    `import { runActor } from "troupe";\nimport { alpha } from "./actor.ts";\n\nawait runActor(alpha);\n`,
  );
  write(
    "actors/beta/main.ts",
    `import { defineActor, runActor } from "troupe";
import { PREFIX } from "../shared/prefix.ts";

await runActor(defineActor({ name: "beta", version: "0.1.0", description: \`next to \${PREFIX}\` }));
`,
  );
  write("actors/gateway/main.ts", `import { runGateway } from "troupe/gateway";\n\nawait runGateway();\n`);
}

/** Resolves once the output has `count` matches of `pattern` (global); rejects when troupe dev exits. */
function waitForOutput(child: ChildProcess, pattern: RegExp, count = 1, timeoutMs = 60_000): Promise<void> {
  const seen = () => (child.output().match(pattern)?.length ?? 0) >= count;
  if (seen()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      stop();
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(
      () => done(new Error(`no ${count}× ${pattern} within ${timeoutMs} ms:\n${child.output()}`)),
      timeoutMs,
    );
    const stop = child.onOutput(() => {
      if (seen()) done();
    });
    void child.exited.then((status) => {
      if (!seen())
        done(new Error(`exited (${JSON.stringify(status)}) before ${pattern}:\n${child.output()}`));
    });
  });
}

function pids(): Record<string, number> {
  const state: DevState | undefined = readDevState(dataDir);
  assert.ok(state, "a status file");
  return Object.fromEntries(state.processes.map((p) => [p.name, p.pid]));
}

async function echo(gateway: string, text: string): Promise<string> {
  const res = await fetch(`${gateway}/v1/echo/${text}`);
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { text: string }).text;
}

const restarting = (name: string) => new RegExp(`^${name} +\\| .* changed, restarting$`, "gm");
const ready = (name: string) => new RegExp(`^${name} +\\| ready \\(pid \\d+, .*\\)$`, "gm");
const count = (child: ChildProcess, pattern: RegExp) => child.output().match(pattern)?.length ?? 0;

for (const cli of CLIS) {
  test(`troupe dev --watch restarts what a change concerns, survives a broken file, keeps the others (CLI on ${cli.runtime})`, {
    timeout: 180_000,
  }, async () => {
    app = join(scratch, `watch-demo-${cli.runtime}`);
    dataDir = join(app, ".troupe", "dev");
    makeProject();
    const child = spawnProcess(
      cli.command,
      [...cli.args, "dev", "--watch", "--port", "0", "--nats-port", "0"],
      {
        cwd: app,
        env: { NATS_URL: "", NO_COLOR: "1" },
        maxOutputChars: 4 * 1024 * 1024,
      },
    );
    started.push(child);
    // If the test process ends first, nothing it started outlives it.
    const unregister = onProcessExit(() => {
      child.kill("SIGKILL");
      const state = readDevState(dataDir);
      for (const pid of [state?.natsServerPid ?? -1, ...(state?.processes ?? []).map((p) => p.pid)]) {
        if (pid > 0 && processRunning(pid)) process.kill(pid, "SIGKILL");
      }
    });
    void child.exited.then(unregister);

    await waitForOutput(child, new RegExp(READY_LINE, "g"));
    assert.match(child.output(), /watching actors and what the actors import for changes/);
    const gateway = readDevState(dataDir)?.gatewayUrl;
    assert.ok(gateway, "a gateway URL");
    const first = pids();
    assert.deepEqual(Object.keys(first).sort(), ["alpha", "beta", "gateway"]);
    assert.equal(await echo(gateway, "hi"), "alpha v1: hi");

    // 1. alpha's own file: alpha restarts, nobody else.
    write("actors/alpha/actor.ts", alphaActor("v2"));
    await waitForOutput(child, ready("alpha"));
    assert.match(child.output(), /^alpha +\| actors\/alpha\/actor\.ts changed, restarting$/m);
    const second = pids();
    assert.notEqual(second.alpha, first.alpha, "alpha runs as a new process");
    assert.equal(processRunning(first.alpha ?? -1), false, "the old alpha is gone");
    assert.deepEqual([second.beta, second.gateway], [first.beta, first.gateway], "the others kept running");
    assert.equal(await echo(gateway, "hi"), "alpha v2: hi", "the new code answers");

    // 2. A syntax error: the start fails, is reported, and troupe dev goes on.
    write("actors/alpha/actor.ts", `${alphaActor("v3")}\nexport const = ;\n`);
    await waitForOutput(
      child,
      /^alpha +\| exited before it was ready \(code \d+\); it starts again at the next change$/gm,
    );
    assert.equal(child.exitStatus, undefined, "troupe dev still runs");
    assert.equal(count(child, restarting("alpha")), 2);
    const broken = pids();
    assert.equal(processRunning(broken.alpha ?? -1), false, "the broken alpha is not running");
    assert.equal(processRunning(first.beta ?? -1), true);
    assert.equal(processRunning(first.gateway ?? -1), true);

    // … and the fix starts it again.
    write("actors/alpha/actor.ts", alphaActor("v3"));
    await waitForOutput(child, ready("alpha"), 2);
    assert.equal(await echo(gateway, "hi"), "alpha v3: hi");

    // 3. The shared file: both actors that import it restart; the gateway does not.
    const third = pids();
    write("actors/shared/prefix.ts", `export const PREFIX = "shared";\n`);
    await waitForOutput(child, ready("alpha"), 3);
    await waitForOutput(child, ready("beta"));
    assert.match(child.output(), /^beta +\| actors\/shared\/prefix\.ts changed, restarting$/m);
    const fourth = pids();
    assert.notEqual(fourth.alpha, third.alpha);
    assert.notEqual(fourth.beta, third.beta);
    assert.equal(fourth.gateway, first.gateway, "the gateway imports nothing of actors/");
    assert.equal(count(child, restarting("gateway")), 0);
    assert.equal(await echo(gateway, "hi"), "shared v3: hi");

    // 4. Generated code (regenerated contracts): the actor that imports it and the gateway, which
    //    loads every contract at run time, restart; beta does not.
    const contract = join(app, "gen/echo_pb.ts");
    writeFileSync(contract, `${readFileSync(contract, "utf8")}\n// regenerated\n`);
    await waitForOutput(child, ready("gateway"));
    await waitForOutput(child, ready("alpha"), 4);
    assert.match(child.output(), /^gateway +\| gen\/echo_pb\.ts changed, restarting$/m);
    const fifth = pids();
    assert.notEqual(fifth.gateway, fourth.gateway);
    assert.notEqual(fifth.alpha, fourth.alpha);
    assert.equal(fifth.beta, fourth.beta);
    assert.equal(count(child, restarting("beta")), 1);
    assert.equal(await echo(gateway, "hi"), "shared v3: hi", "the new gateway is ready on the same port");
    assert.equal(count(child, /exited by itself/g), 0, "no restart went through crash supervision");

    child.kill("SIGINT");
    assert.deepEqual(await child.exited, { code: 0, signal: null }, child.output().slice(-3000));
    const left = Object.values(fifth).filter((pid) => processRunning(pid));
    assert.deepEqual(left, [], "nothing left running");
  });
}
