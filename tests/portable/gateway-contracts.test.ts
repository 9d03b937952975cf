/**
 * What a gateway without a list of services fronts (runGateway → loadContracts → publicServices):
 * every service of the contracts folder with at least one public method, and no other; and the
 * calls `troupe dev` prints, taken from the same contracts.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { exportSPKI, generateKeyPair } from "jose";
import { loadContracts, publicServices, restRoutes } from "troupe/gateway";
import { startNatsServer } from "troupe/testing";
import { devExamples } from "../../runtime/cli/dev/dev-examples.ts";
import { formatSummary } from "../../runtime/cli/dev/dev-summary.ts";
import { runtimeInfo } from "../../runtime/platform/runtime-info.ts";
import { type ChildProcess, runProcess, spawnProcess } from "../../runtime/platform/spawn-process.ts";
import { commandFor, type JsRuntime, REPO_ROOT } from "../support/actor-process.ts";
import { logLine } from "../support/log-line.ts";

const BIN = join(REPO_ROOT, "node_modules", ".bin");
const scratch = mkdtempSync(join(tmpdir(), "troupe-contracts-test-"));
let server: Awaited<ReturnType<typeof startNatsServer>>;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server[Symbol.asyncDispose]();
  rmSync(scratch, { recursive: true, force: true });
});

/** The shop's gateway process (`await runGateway()`) on the test's runtime, with `env`. */
function startGateway(env: Record<string, string>): ChildProcess {
  const { command, args } = commandFor(runtimeInfo().name as JsRuntime, "actors/gateway/main.ts");
  return spawnProcess(command, args, {
    cwd: REPO_ROOT,
    env: {
      NATS_URL: server.url,
      GATEWAY_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_ADMIN_PORT: "0",
      TROUPE_ROUTES: "off",
      ...env,
    },
  });
}

test("only services with a public method are fronted: EmailService and BillingService are private", async () => {
  const contracts = await loadContracts(join(REPO_ROOT, "proto/gen/shop"));
  const all = contracts.services.map((s) => s.typeName);
  assert.ok(all.includes("shop.v1.EmailService") && all.includes("shop.v1.BillingService"), `${all}`);
  assert.ok(contracts.files.includes("v1/user_pb.ts"), "found at any depth");
  assert.ok(
    contracts.files.includes("user/state/v1/user_state_pb.ts"),
    "files without services are imported too",
  );
  assert.deepEqual(
    publicServices(contracts.services).map((s) => s.typeName),
    [
      "shop.v1.CartService",
      "shop.v1.InventoryService",
      "shop.v1.OrderService",
      "shop.v1.PaymentService",
      "shop.v1.ProductService",
      "shop.v1.UserService",
    ],
  );
});

test("the gateway process without a list fronts the public services of TROUPE_CONTRACTS", {
  timeout: 60_000,
}, async () => {
  // The shop has auth_required methods: the gateway refuses to start without a key to check them.
  const { publicKey } = await generateKeyPair("ES256");
  const jwt = { GATEWAY_JWT_PUBLIC_KEY: await exportSPKI(publicKey), GATEWAY_JWT_ALGORITHMS: "ES256" };
  const gateway = startGateway({ TROUPE_CONTRACTS: "proto/gen/shop", ...jwt });
  try {
    const ready = await logLine(gateway, "gateway ready");
    assert.deepEqual(ready.services, [
      "shop.v1.CartService",
      "shop.v1.InventoryService",
      "shop.v1.OrderService",
      "shop.v1.PaymentService",
      "shop.v1.ProductService",
      "shop.v1.UserService",
    ]);
    // A private-only service is not served at all: its Connect path is unknown to the gateway.
    const res = await fetch(`${String(ready.url)}/shop.v1.EmailService/SendEmail`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(res.status, 404, await res.text());
    // Reflection (on by default) lists the same services, and no private one.
    const listed = await runProcess(join(BIN, "node"), [
      join(BIN, "buf"),
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--list-services",
      String(ready.url),
    ]);
    assert.equal(listed.code, 0, listed.output);
    assert.deepEqual(listed.output.trim().split("\n"), ready.services);
    assert.equal(ready.reflection, "on");
    // /metrics is on the admin listener, on loopback, never on the public port (ADR 25).
    const publicMetrics = await fetch(`${String(ready.url)}/metrics`);
    assert.equal(publicMetrics.status, 404, await publicMetrics.text());
    assert.match(String(ready.metrics), /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const page = await fetch(String(ready.metrics));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /^troupe_instance_info\{service="gateway",/m);
  } finally {
    gateway.kill("SIGTERM");
    await gateway.exited;
  }

  const unsure = startGateway({ TROUPE_CONTRACTS: "proto/gen/shop", GATEWAY_REFLECTION: "no", ...jwt });
  await logLine(unsure, 'GATEWAY_REFLECTION must be "on" or "off", got "no"');
  assert.equal((await unsure.exited).code, 1);

  const lost = startGateway({ TROUPE_CONTRACTS: join(scratch, "no-such-folder"), ...jwt });
  const refused = await logLine(lost, "the gateway cannot start");
  assert.match(String(refused.error), /no-such-folder does not exist/);
  assert.equal((await lost.exited).code, 1);
});

test("contract files: *_pb.ts or *_pb.js at any depth, the source taken over its compiled twin", async () => {
  const dir = join(scratch, "gen");
  mkdirSync(join(dir, "a", "v1"), { recursive: true });
  mkdirSync(join(dir, ".hidden"), { recursive: true });
  const service = (typeName: string, marker: string) =>
    `export const S = { kind: "service", typeName: "${typeName}", methods: [], marker: "${marker}" };\n`;
  writeFileSync(join(dir, "a", "v1", "one_pb.js"), service("a.v1.One", "js"));
  writeFileSync(join(dir, "a", "v1", "two_pb.ts"), service("a.v1.Two", "ts"));
  writeFileSync(join(dir, "a", "v1", "two_pb.js"), service("a.v1.Two", "compiled"));
  writeFileSync(join(dir, "a", "v1", "two_pb.d.ts"), "export declare const S: unknown;\n");
  writeFileSync(join(dir, "a", "v1", "helper.ts"), 'throw new Error("not a contract");\n');
  writeFileSync(join(dir, ".hidden", "x_pb.js"), service("hidden.X", "hidden"));
  const loaded = await loadContracts(dir);
  assert.deepEqual(loaded.files, ["a/v1/one_pb.js", "a/v1/two_pb.ts"]);
  assert.deepEqual(
    loaded.services.map((s) => [s.typeName, (s as unknown as { marker: string }).marker]),
    [
      ["a.v1.One", "js"],
      ["a.v1.Two", "ts"],
    ],
  );
});

test("a missing or empty contracts folder, or a file that cannot be imported, is named", async () => {
  await assert.rejects(
    loadContracts(join(scratch, "nowhere")),
    /the contracts folder .*nowhere does not exist/,
  );
  const empty = join(scratch, "empty");
  mkdirSync(empty);
  await assert.rejects(loadContracts(empty), /empty holds no \*_pb\.ts or \*_pb\.js file/);
  const broken = join(scratch, "broken");
  mkdirSync(broken);
  writeFileSync(join(broken, "bad_pb.js"), 'import "./missing_pb.js";\n');
  await assert.rejects(loadContracts(broken), /cannot import the contract .*broken[/\\]bad_pb\.js/);
});

test("the printed calls come from the contracts: public GET routes, a public unary method", async () => {
  const fronted = publicServices((await loadContracts(join(REPO_ROOT, "proto/gen/shop"))).services);
  const examples = devExamples(fronted);
  const publicGets = restRoutes(fronted).filter((r) => r.public && r.httpMethod === "GET");
  // (The shop's variables are single segments: `{id}` is shown as `<id>`.)
  const shown = publicGets.map((r) => [r.template.replace(/\{(\w+)\}/g, "<$1>"), r.authRequired]);
  for (const example of examples.rest) {
    assert.ok(
      shown.some(([path, auth]) => path === example.path && auth === example.authRequired),
      `${example.path} is a public GET route`,
    );
  }
  assert.deepEqual(
    examples.rest.map((r) => [r.path.includes("<"), r.authRequired]),
    [
      [false, false],
      [true, false],
      [true, true],
    ],
    "one route to paste as is, one with variables, one that needs the token",
  );
  assert.ok(examples.unary, "a unary method to call");
  assert.match(examples.unary.subject, /^rpc\.shop\.v1\.\w+Service\.\w+$/);
  assert.equal(examples.unary.authRequired, false);

  const lines = formatSummary({
    gatewayUrl: "http://127.0.0.1:9999",
    metricsUrl: "http://127.0.0.1:9464/metrics",
    dashboardUrl: "http://127.0.0.1:8090",
    natsUrl: "nats://127.0.0.1:4333",
    natsStore: ".troupe/dev/nats",
    services: [{ name: "mail", port: 2525, env: { SMTP_URL: "smtp://127.0.0.1:2525" } }],
    dataDir: ".troupe/dev",
    token: "t0k3n",
    tokenSubject: "dev-user",
    tokenAudience: "troupe-shop",
    processes: ["product", "gateway"],
    startupMs: 1_500,
    examples,
  }).join("\n");
  assert.ok(lines.includes(`curl http://127.0.0.1:9999${examples.rest[0]?.path}\n`), lines);
  assert.ok(lines.includes(`curl http://127.0.0.1:9999/${examples.unary.path} \\`), lines);
  assert.ok(lines.includes(`req ${examples.unary.subject} '{}'`), lines);
  assert.match(lines, /curl -H "authorization: Bearer \$TOKEN" 'http:\/\/127\.0\.0\.1:9999\/v1\/\S+<\w+>'/);
  assert.match(lines, /^ {2}mail +127\.0\.0\.1:2525 {2}SMTP_URL=smtp:\/\/127\.0\.0\.1:2525$/m);
  assert.match(lines, /^ {2}npx troupe ls$/m);
  assert.match(lines, /^ {2}npx troupe tail 'evt.>'$/m);
  assert.match(lines, /^ {2}metrics +http:\/\/127\.0\.0\.1:9464\/metrics {2}/m);
  assert.match(lines, /^ {2}dashboard +http:\/\/127\.0\.0\.1:8090 {2}services, streams/m);

  // Another project's contracts give other calls: nothing of the shop is built in.
  const library = devExamples((await loadContracts(join(REPO_ROOT, "proto/gen/troupe/testing"))).services);
  assert.ok(library.rest.every((r) => !r.path.includes("products")));
  assert.match(library.unary?.subject ?? "", /^rpc\.troupe\.testing\.v1\./);
});
