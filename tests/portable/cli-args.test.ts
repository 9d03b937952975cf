/**
 * The `troupe` command line: dispatch, help and exit codes (runtime/cli/run-cli.ts), and the
 * flags of `troupe dev` and `troupe ls`. No process is started: the commands here are
 * recording stand-ins or parse only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { InfoResponse } from "troupe/discovery";
import { type CliCommand, UsageError } from "../../runtime/cli/command.ts";
import { bundlerArgs, parseBuildArgs } from "../../runtime/cli/commands/build-command.ts";
import { parseDevArgs } from "../../runtime/cli/commands/dev-command.ts";
import { formatServiceList, parseLsArgs, summarizeServices } from "../../runtime/cli/commands/ls-command.ts";
import { defaultDevOptions } from "../../runtime/cli/dev/dev-options.ts";
import { cliUsage, runCli } from "../../runtime/cli/run-cli.ts";

const env = { natsUrl: undefined, noColor: false, terminal: false };

function recorder(): CliCommand & { calls: (readonly string[])[] } {
  const calls: (readonly string[])[] = [];
  return {
    name: "echo",
    summary: "records its arguments",
    usage: "Usage: troupe echo [--fail]",
    calls,
    async run(args) {
      calls.push(args);
      if (args.includes("--bad")) throw new UsageError("--bad is not a flag");
      return args.includes("--fail") ? 1 : 0;
    },
  };
}

test("a command gets the arguments after its name; its code is the exit code", async () => {
  const echo = recorder();
  assert.equal(await runCli(["echo", "a", "--x"], [echo]), 0);
  assert.equal(await runCli(["echo", "--fail"], [echo]), 1);
  assert.deepEqual(echo.calls, [["a", "--x"], ["--fail"]]);
});

test("an unknown command, no command and bad flags exit 2 with the usage; help and --version exit 0", async () => {
  const echo = recorder();
  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, [echo], { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };
  const unknown = await run(["nope"]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.err,
    /unknown command "nope"[\s\S]*Usage: troupe <command>[\s\S]*echo +records its arguments/,
  );
  assert.equal((await run([])).code, 2);
  const bad = await run(["echo", "--bad"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /troupe echo: --bad is not a flag[\s\S]*Usage: troupe echo/);
  assert.deepEqual(await run(["--help"]), { code: 0, out: cliUsage([echo]), err: "" });
  assert.deepEqual(await run(["help", "echo"]), { code: 0, out: echo.usage, err: "" });
  assert.deepEqual(await run(["--version"]), { code: 0, out: "troupe 0.1.0", err: "" });
});

test("troupe dev: defaults, every flag, and NATS_URL", () => {
  const defaults = parseDevArgs([], env);
  assert.notEqual(defaults, "help");
  assert.equal(defaultDevOptions.natsPort === 4222, false, "never the port of a machine's own NATS");
  assert.deepEqual(defaults, {
    gatewayPort: 8080,
    natsPort: defaultDevOptions.natsPort,
    servicePorts: {},
    natsUrl: undefined,
    dataDir: ".troupe/dev",
    actorsDir: undefined,
    runtime: "bun",
    logLevel: "info",
    jsonLogs: false,
    color: false,
    readyTimeoutMs: defaultDevOptions.readyTimeoutMs,
    stopGraceMs: defaultDevOptions.stopGraceMs,
    watch: false,
    auth: true,
    tls: true,
  });
  const all = parseDevArgs(
    [
      "--port=9000",
      "--nats-port",
      "0",
      "--service-port",
      "mail=2626",
      "--service-port=db=0",
      "--data-dir",
      "/tmp/d",
      "--actors-dir",
      "src/actors",
      "--runtime",
      "deno",
      "--log-level",
      "debug",
      "--json-logs",
      "--ready-timeout-ms",
      "5000",
      "--stop-grace-ms",
      "2000",
      "--watch",
      "--no-auth",
      "--no-tls",
    ],
    { ...env, natsUrl: "nats://other:4222" },
  );
  assert.deepEqual(all, {
    gatewayPort: 9000,
    natsPort: 0,
    servicePorts: { mail: 2626, db: 0 },
    natsUrl: "nats://other:4222",
    dataDir: "/tmp/d",
    actorsDir: "src/actors",
    runtime: "deno",
    logLevel: "debug",
    jsonLogs: true,
    color: false,
    readyTimeoutMs: 5000,
    stopGraceMs: 2000,
    watch: true,
    auth: false,
    tls: false,
  });
  const flagWins = parseDevArgs(["--nats-url", "nats://x:1"], { ...env, natsUrl: "nats://env:1" });
  assert.equal(flagWins !== "help" && flagWins.natsUrl, "nats://x:1", "--nats-url wins over NATS_URL");
  assert.equal(parseDevArgs(["-h"], env), "help");
  const short = parseDevArgs(["-w"], env);
  assert.equal(short !== "help" && short.watch, true, "-w is --watch");
});

test("troupe dev: colour only on a terminal, and never with NO_COLOR or --no-color", () => {
  const color = (args: string[], e: typeof env) => {
    const parsed = parseDevArgs(args, e);
    return parsed === "help" ? undefined : parsed.color;
  };
  assert.equal(color([], { ...env, terminal: true }), true);
  assert.equal(color([], env), false);
  assert.equal(color([], { ...env, terminal: true, noColor: true }), false);
  assert.equal(color(["--no-color"], { ...env, terminal: true }), false);
});

test("troupe dev: bad flags are usage errors that say what is wrong", () => {
  const cases: [string[], RegExp][] = [
    [["--port", "80a"], /--port must be a port number/],
    [["--port", "70000"], /--port must be a port number/],
    [["--service-port", "2525"], /--service-port must be <name>=<port>/],
    [["--service-port", "mail=x"], /--service-port must be a port number/],
    [["--runtime", "java"], /--runtime must be one of bun, deno, node/],
    [["--log-level", "loud"], /--log-level must be one of/],
    [["--stop-grace-ms", "0"], /--stop-grace-ms must be a positive number/],
    [["--unknown"], /unknown/i],
    [["extra"], /positional|unexpected/i],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseDevArgs(args, env),
      (err: unknown) => err instanceof UsageError && message.test(err.message),
      args.join(" "),
    );
  }
});

test("troupe ls: a name, flags, and the listing shows every version", () => {
  assert.deepEqual(parseLsArgs(["product", "--json", "--server", "nats://h:1", "--namespace", "acme"]), {
    name: "product",
    connection: { server: "nats://h:1", namespace: "acme", dataDir: ".troupe/dev" },
    timeoutMs: 2000,
    json: true,
  });
  assert.equal((parseLsArgs(["--timeout", "5s"]) as { timeoutMs: number }).timeoutMs, 5000);
  assert.throws(() => parseLsArgs(["a", "b"]), UsageError);
  assert.throws(() => parseLsArgs(["--timeout", "soon"]), /--timeout must be a duration/);
  const info: InfoResponse = {
    type: "io.nats.micro.v1.info_response" as InfoResponse["type"],
    name: "product",
    id: "ID1",
    version: "1.0.0",
    description: "The catalogue",
    metadata: {
      "troupe.runtime": "bun 1.4.5",
      "troupe.host": "vm",
      "troupe.services": "shop.v1.ProductService",
    },
    endpoints: [
      {
        name: "ProductService-GetProduct",
        subject: "rpc.shop.v1.ProductService.GetProduct",
        queue_group: "product",
        metadata: { "troupe.kind": "unary" },
      },
    ],
  };
  const canary = { ...info, id: "ID3", version: "1.1.0" };
  assert.deepEqual(formatServiceList(summarizeServices([info, canary, { ...info, id: "ID2" }])), [
    "SERVICE  VERSIONS            INSTANCES  ENDPOINTS  SERVES                  DESCRIPTION",
    "product  1.0.0 ×2, 1.1.0 ×1  3          1          shop.v1.ProductService  The catalogue",
  ]);
  assert.deepEqual(formatServiceList([]), ["no services answered $SRV.INFO"]);
});

test("the help lists the verbs for services and calls", () => {
  const usage = cliUsage();
  for (const verb of ["ls", "info", "stats", "call", "routes", "doctor", "services"]) {
    assert.match(usage, new RegExp(`^  ${verb} +\\S`, "m"), verb);
  }
});

test("troupe build: defaults, flags, the bundler's command line, and bad flags", () => {
  assert.deepEqual(parseBuildArgs([]), { files: [], target: "node", outdir: "dist", sourcemap: true });
  const build = parseBuildArgs([
    "actors/a/main.ts",
    "actors/b/main.ts",
    "--target",
    "bun",
    "--outdir",
    "out",
  ]);
  assert.deepEqual(build, {
    files: ["actors/a/main.ts", "actors/b/main.ts"],
    target: "bun",
    outdir: "out",
    sourcemap: true,
  });
  assert.deepEqual(parseBuildArgs(["--no-sourcemap"]), {
    files: [],
    target: "node",
    outdir: "dist",
    sourcemap: false,
  });
  assert.equal(parseBuildArgs(["-h"]), "help");
  assert.throws(
    () => parseBuildArgs(["--target", "deno"]),
    (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /--target must be one of node, bun, got "deno"/);
      return true;
    },
  );
  assert.throws(() => parseBuildArgs(["--minify"]), UsageError);
  if (build === "help") return;
  const args = bundlerArgs(build, "/project", build.files);
  // Every dependency bundled (no --packages=external), split into shared chunks, at the project's paths.
  assert.deepEqual(args.slice(0, 2), ["build", "--target=bun"]);
  for (const flag of ["--splitting", "--root=/project", "--outdir=out", "--sourcemap=linked"]) {
    assert.ok(args.includes(flag), `${flag} in ${args.join(" ")}`);
  }
  assert.ok(!args.some((arg) => arg.startsWith("--packages")));
  assert.deepEqual(args.slice(-2), ["actors/a/main.ts", "actors/b/main.ts"]);
});
