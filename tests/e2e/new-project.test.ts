/**
 * Troupe from outside this repository, as a team that installs it would use it: the package
 * packed (`npm pack -w troupe`), `troupe new` run in a folder under the system temp folder, the
 * tarball and the pinned dependencies installed there with npm, its contracts generated with buf
 * (importing troupe/v1/options.proto from node_modules/troupe/proto), and then:
 *
 * - the project's own test (the greeter served in-process on a real nats-server) passes on Bun,
 *   Node and Deno, with `troupe` resolved to the built dist/ (no `troupe-source` condition:
 *   the environment of every command is scrubbed of it, and of npm's own variables);
 * - the greeter started as a process (`bun run actors/greeter/main.ts`) answers over NATS a raw
 *   JSON request on the subject that its `$SRV.INFO` advertises;
 * - `npm run build` (the packed CLI's `troupe build`) bundles the greeter, and the bundle answers
 *   on Node;
 * - a plain Node program (.mjs) imports `troupe` and `troupe/testing` from node_modules;
 * - the packed CLI (node_modules/.bin/troupe) writes the same project as the repository's, and
 *   its `troupe add actor` adds an actor that type-checks, starts and answers.
 *
 * Slow (npm install, three runtimes): one long timeout. A failing command fails the test with
 * the command line and its whole output.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "troupe";
import { ServiceMetadata, serviceInfos } from "troupe/discovery";
import { findNatsServer, type NatsServer, startNatsServer } from "troupe/testing";
import { onProcessExit } from "../../runtime/platform/exit-hooks.ts";
import { REPO_ROOT } from "../support/actor-process.ts";

const TIMEOUT = { timeout: 300_000 };
const REPO_BIN = join(REPO_ROOT, "node_modules", ".bin");
const VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, "runtime", "package.json"), "utf8")) as { version: string }
).version;
const PROJECT = "hello-troupe";
const PROTO_DIR = "hello_troupe/v1";

const scratch = mkdtempSync(join(tmpdir(), "troupe-new-project-"));
const app = join(scratch, PROJECT);
const tarball = join(scratch, `troupe-${VERSION}.tgz`);
// node, bun and deno of the repository (Node 26, the pinned Bun and Deno), and nothing else of
// its node_modules/.bin: the project must find buf, protoc-gen-es, tsc and troupe in its own.
const runtimes = join(scratch, "bin");
const running = new Set<ChildProcess>();

/**
 * The environment of every command: the caller's, without what points back into the
 * repository (the troupe-source condition of scripts/test.sh, npm's npm_* variables of an
 * enclosing `npm test`), with the repository's runtimes first on PATH.
 */
function projectEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith("npm_") || key === "NODE_OPTIONS" || key === "DENO_CONDITIONS")
      continue;
    if (key === "INIT_CWD" || key === "NATS_URL") continue;
    env[key] = value;
  }
  env.PATH = `${runtimes}:${process.env.PATH ?? ""}`;
  env.NO_COLOR = "1";
  return { ...env, ...extra };
}

interface Started {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Calls `listener` after every chunk of output; returns an unsubscribe. */
  readonly onOutput: (listener: () => void) => () => void;
  readonly exited: Promise<number | null>;
}

function start(command: string, args: readonly string[], cwd: string, env: Record<string, string>): Started {
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let output = "";
  const listeners = new Set<() => void>();
  const collect = (data: Buffer) => {
    output = (output + data.toString("utf8")).slice(-256 * 1024);
    for (const listener of listeners) listener();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", (err) => {
      output += `\n${String(err)}`;
      resolve(-1);
    });
    child.once("exit", (code) => resolve(code));
  }).finally(() => running.delete(child));
  return {
    child,
    output: () => output,
    onOutput: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    exited,
  };
}

/** Runs a command to its end; rejects with the command line and its output unless it exits 0. */
async function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<string> {
  const cwd = options.cwd ?? app;
  const started = start(command, args, cwd, projectEnv(options.env));
  const timeoutMs = options.timeoutMs ?? 120_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const code = await Promise.race([started.exited, timedOut]);
  clearTimeout(timer);
  const line = `${[command, ...args].join(" ")} (in ${cwd})`;
  if (code === "timeout") {
    started.child.kill("SIGKILL");
    throw new Error(`${line} took longer than ${timeoutMs} ms:\n${started.output()}`);
  }
  if (code !== 0) throw new Error(`${line} exited with ${code}:\n${started.output()}`);
  return started.output();
}

/** Resolves once the output contains `text`; rejects with the output when the process ends first. */
function waitFor(started: Started, text: string, timeoutMs = 30_000): Promise<void> {
  if (started.output().includes(text)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      unsubscribe();
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(
      () => done(new Error(`no "${text}" within ${timeoutMs} ms:\n${started.output()}`)),
      timeoutMs,
    );
    const unsubscribe = started.onOutput(() => {
      if (started.output().includes(text)) done();
    });
    void started.exited.then((code) => {
      if (!started.output().includes(text))
        done(new Error(`exited (${code}) before "${text}":\n${started.output()}`));
    });
  });
}

/** Every file of a folder (relative paths), without node_modules. */
function filesOf(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.name === "node_modules") continue;
      const full = join(path, entry.name);
      if (entry.isDirectory()) visit(full);
      else files.set(relative(dir, full), readFileSync(full, "utf8"));
    }
  };
  visit(dir);
  return files;
}

describe("a project outside the repository", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let natsServerPath: string;
  let created: Map<string, string>;

  before(async () => {
    mkdirSync(runtimes);
    for (const name of ["node", "bun", "deno"]) symlinkSync(join(REPO_BIN, name), join(runtimes, name));
    natsServerPath = (await findNatsServer()).path;
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  after(async () => {
    for (const child of running) child.kill("SIGKILL");
    await nc?.close();
    await server?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  // However the test process ends, no actor process outlives it.
  const unregister = onProcessExit(() => {
    for (const child of running) child.kill("SIGKILL");
  });
  after(unregister);

  /** An actor of the project as its own process on Bun, connected to the harness server. */
  async function startActor(name: string): Promise<Started> {
    const actor = start(
      join(runtimes, "bun"),
      ["run", `actors/${name}/main.ts`],
      app,
      projectEnv({ NATS_URL: server.url, TROUPE_DRAIN_GRACE_MS: "1000" }),
    );
    await waitFor(actor, '"msg":"actor ready"');
    return actor;
  }

  /** A raw Connect-JSON request on the subject the actor's $SRV.INFO gives for `method`. */
  async function callRaw(actorName: string, method: string, body: unknown): Promise<unknown> {
    const [info] = await serviceInfos(nc, { name: actorName, timeoutMs: 2_000 });
    assert.ok(info, `${actorName} answers $SRV.INFO`);
    const endpoint = info.endpoints.find((e) => e.subject.endsWith(`.${method}`));
    assert.ok(endpoint, `${actorName} has an endpoint for ${method}: ${JSON.stringify(info.endpoints)}`);
    const reply = await nc.request(endpoint.subject, JSON.stringify(body), { timeout: 5_000 });
    return JSON.parse(reply.string());
  }

  test(
    "troupe new, npm install, npm run generate: the project's test passes on Bun, Node and Deno",
    TIMEOUT,
    async () => {
      await run("npm", ["pack", "-w", "troupe", "--pack-destination", scratch], { cwd: REPO_ROOT });
      assert.ok(existsSync(tarball), `npm pack wrote ${tarball}`);

      // The repository's CLI (sources on Bun) writes the project…
      const printed = await run(
        join(runtimes, "bun"),
        [join(REPO_ROOT, "runtime/cli/main.ts"), "new", PROJECT, "--troupe", tarball],
        { cwd: scratch },
      );
      assert.match(printed, /npm run generate/);
      created = filesOf(app);
      const manifest = JSON.parse(created.get("package.json") ?? "{}") as {
        dependencies: Record<string, string>;
      };
      assert.equal(manifest.dependencies.troupe, `file:../troupe-${VERSION}.tgz`);
      assert.deepEqual(JSON.parse(created.get("troupe.json") ?? "{}"), {
        actors: "actors",
        contracts: "gen",
      });

      // …which installs from the tarball and the registry (npm's cache, after a first run).
      await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], { timeoutMs: 240_000 });
      assert.ok(existsSync(join(app, "node_modules/troupe/dist/mod.js")), "the installed troupe has dist/");
      assert.ok(existsSync(join(app, "node_modules/troupe/proto/troupe/v1/options.proto")));

      await run("npm", ["run", "generate"]);
      const generated = readFileSync(join(app, `gen/${PROTO_DIR}/greeter_pb.ts`), "utf8");
      assert.match(generated, /from "troupe\/gen\/troupe\/v1\/options_pb\.js"/);
      assert.match(generated, /from "troupe\/gen\/google\/api\/annotations_pb\.js"/);
      await run(join(app, "node_modules/.bin/buf"), ["lint"]);
      await run("npm", ["run", "check"]);

      const env = { TROUPE_NATS_SERVER: natsServerPath };
      assert.match(await run("npm", ["test"], { env }), /2 pass/);
      assert.match(await run("npm", ["run", "test:node"], { env }), /pass 2/);
      assert.match(await run("npm", ["run", "test:deno"], { env }), /2 passed/);
    },
  );

  test("the greeter as a process answers over NATS", TIMEOUT, async () => {
    assert.ok(created, "the project exists (the first test passed)");
    const greeter = await startActor("greeter");
    const [info] = await serviceInfos(nc, { name: "greeter", timeoutMs: 2_000 });
    assert.match(info?.metadata[ServiceMetadata.runtime] ?? "", /^bun /);
    assert.deepEqual(await callRaw("greeter", "Greet", { name: "Ada" }), { greeting: "Hello, Ada!" });
    greeter.child.kill("SIGTERM");
    assert.equal(await greeter.exited, 0, greeter.output());
  });

  test("troupe build: the greeter bundled by the packed CLI answers over NATS on Node", TIMEOUT, async () => {
    assert.ok(created, "the project exists (the first test passed)");
    // The project's build script: the packed CLI on Node, Bun's bundler from PATH (the project
    // does not depend on bun).
    const printed = await run("npm", ["run", "build", "--", "actors/greeter/main.ts"]);
    assert.match(printed, /bundled 1 actor for node into dist\//);
    const bundled = start(
      join(runtimes, "node"),
      ["dist/actors/greeter/main.js"],
      app,
      projectEnv({ NATS_URL: server.url, TROUPE_DRAIN_GRACE_MS: "1000" }),
    );
    await waitFor(bundled, '"msg":"actor ready"');
    const [info] = await serviceInfos(nc, { name: "greeter", timeoutMs: 2_000 });
    assert.match(info?.metadata[ServiceMetadata.runtime] ?? "", /^node /);
    assert.deepEqual(await callRaw("greeter", "Greet", { name: "Grace" }), { greeting: "Hello, Grace!" });
    bundled.child.kill("SIGTERM");
    assert.equal(await bundled.exited, 0, bundled.output());
  });

  test(
    "a plain Node program imports troupe and troupe/testing from node_modules (dist/)",
    TIMEOUT,
    async () => {
      assert.ok(created, "the project exists (the first test passed)");
      const program = join(app, "plain-node.mjs");
      const source = `
      import { TROUPE_VERSION, connect } from "troupe";
      import { startNatsServer } from "troupe/testing";
      const server = await startNatsServer();
      const nc = await connect({ servers: server.url });
      console.log(JSON.stringify({
        version: TROUPE_VERSION,
        server: nc.info?.version,
        resolved: import.meta.resolve("troupe"),
      }));
      await nc.close();
      await server.dispose();
    `;
      writeFileSync(program, source);
      const output = await run(join(runtimes, "node"), [program], {
        env: { TROUPE_NATS_SERVER: natsServerPath },
      });
      const printed = JSON.parse(output.trim().split("\n").at(-1) ?? "") as Record<string, string>;
      assert.equal(printed.version, VERSION);
      assert.equal(printed.server, server.version);
      assert.match(printed.resolved ?? "", /\/node_modules\/troupe\/dist\/mod\.js$/);
    },
  );

  test(
    "the packed CLI: troupe new writes the same project, troupe add actor one that runs",
    TIMEOUT,
    async () => {
      assert.ok(created, "the project exists (the first test passed)");
      const troupe = join(app, "node_modules/.bin/troupe");
      assert.equal((await run(troupe, ["--version"])).trim(), `troupe ${VERSION}`);

      const again = join(scratch, "again");
      await run(troupe, ["new", "again", "--name", PROJECT, "--troupe", tarball], { cwd: scratch });
      assert.deepEqual(filesOf(again), created);

      const added = await run(troupe, ["add", "actor", "order-history"]);
      assert.match(added, /created proto\/hello_troupe\/v1\/order_history\.proto/);
      const actor = readFileSync(join(app, "actors/order-history/actor.ts"), "utf8");
      assert.match(actor, /name: "order-history"/);
      await assert.rejects(run(troupe, ["add", "actor", "order-history"]), /exists already/);

      await run("npm", ["run", "generate"]);
      await run(join(app, "node_modules/.bin/buf"), ["lint"]);
      await run("npm", ["run", "check"]);
      const orderHistory = await startActor("order-history");
      assert.deepEqual(await callRaw("order-history", "GetOrderHistory", { id: "h-1" }), {
        orderHistory: { id: "h-1" },
      });
      orderHistory.child.kill("SIGTERM");
      assert.equal(await orderHistory.exited, 0, orderHistory.output());
    },
  );
});
