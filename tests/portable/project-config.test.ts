/**
 * troupe.json (runtime/cli/project-config.ts): defaults without the file, the shape
 * `troupe new` writes, every key, and errors that name the file and the key.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, test } from "node:test";
import {
  defaultProjectConfig,
  fillPlaceholders,
  ProjectConfigError,
  readProjectConfig,
  resolveProjectConfig,
} from "../../runtime/cli/project-config.ts";
import { REPO_ROOT } from "../support/actor-process.ts";

const scratch = mkdtempSync(join(tmpdir(), "troupe-config-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const context = { file: "troupe.json", projectName: "acme" };

test("without troupe.json: the defaults, the JWT audience being package.json's name or the folder's", () => {
  const withPackage = mkdtempSync(join(scratch, "p-"));
  writeFileSync(join(withPackage, "package.json"), JSON.stringify({ name: "acme-shop" }));
  assert.deepEqual(readProjectConfig(withPackage), {
    actors: "actors",
    contracts: "proto/gen",
    gateway: { actor: "gateway", jwtAudience: "acme-shop" },
    services: {},
  });
  const bare = mkdtempSync(join(scratch, "bare-"));
  assert.equal(readProjectConfig(bare).gateway.jwtAudience, basename(bare));
  assert.equal(defaultProjectConfig.contracts, "proto/gen");
});

test("the shape `troupe new` writes keeps the other defaults", () => {
  assert.deepEqual(resolveProjectConfig({ actors: "actors", contracts: "gen" }, context), {
    actors: "actors",
    contracts: "gen",
    gateway: { actor: "gateway", jwtAudience: "acme" },
    services: {},
  });
});

test("every key", () => {
  const config = resolveProjectConfig(
    {
      $schema: "./troupe.schema.json",
      actors: "src/actors",
      contracts: "src/gen",
      gateway: { actor: "edge", jwtAudience: "api.acme" },
      services: {
        db: {
          command: ["postgres", "-p", "{port}", "-D", "{dataDir}/db"],
          port: 5433,
          ready: "ready to accept",
        },
        mail: { command: ["bun", "run", "sink.ts"], port: 0, env: { SMTP_URL: "smtp://127.0.0.1:{port}" } },
        worker: { command: ["./worker"] },
      },
    },
    context,
  );
  assert.equal(config.actors, "src/actors");
  assert.equal(config.contracts, "src/gen");
  assert.deepEqual(config.gateway, { actor: "edge", jwtAudience: "api.acme" });
  assert.deepEqual(
    Object.keys(config.services),
    ["db", "mail", "worker"],
    "declaration order is start order",
  );
  assert.deepEqual(config.services.db, {
    command: ["postgres", "-p", "{port}", "-D", "{dataDir}/db"],
    port: 5433,
    env: {},
    ready: "ready to accept",
  });
  assert.deepEqual(config.services.mail?.env, { SMTP_URL: "smtp://127.0.0.1:{port}" });
  assert.deepEqual(config.services.worker, {
    command: ["./worker"],
    port: undefined,
    env: {},
    ready: undefined,
  });
  assert.equal(fillPlaceholders("smtp://127.0.0.1:{port}", 2626, "/d"), "smtp://127.0.0.1:2626");
  assert.equal(fillPlaceholders("{dataDir}/mail", 1, "/data"), "/data/mail");
});

test("mistakes are refused with the file and the key named", () => {
  const cases: [unknown, RegExp][] = [
    [[], /^troupe\.json: must be an object, got \[\]/],
    [{ actor: "actors" }, /^troupe\.json: actor is not a known key \(known: \$schema, actors, contracts/],
    [{ actors: 3 }, /^troupe\.json: actors must be a non-empty string, got 3/],
    [{ contracts: "" }, /^troupe\.json: contracts must be a non-empty string/],
    [{ gateway: "gateway" }, /^troupe\.json: gateway must be an object/],
    [
      { gateway: { audience: "x" } },
      /^troupe\.json: gateway\.audience is not a known key \(known in gateway: actor, jwtAudience\)/,
    ],
    [
      { services: { mail: {} } },
      /^troupe\.json: services\.mail\.command must be a list of non-empty strings/,
    ],
    [{ services: { mail: { command: "bun run sink.ts" } } }, /services\.mail\.command must be a list/],
    [{ services: { mail: { command: ["x"], port: 70_000 } } }, /services\.mail\.port must be a port number/],
    [{ services: { mail: { command: ["x"], port: "2525" } } }, /services\.mail\.port must be a port number/],
    [
      { services: { mail: { command: ["x"], env: { SMTP_URL: 1 } } } },
      /services\.mail\.env\.SMTP_URL must be a string/,
    ],
    [
      { services: { mail: { command: ["x"], env: { "SMTP-URL": "a" } } } },
      /services\.mail\.env\.SMTP-URL is not a variable name/,
    ],
    [{ services: { mail: { command: ["x"], retries: 3 } } }, /services\.mail\.retries is not a known key/],
    [
      { services: { mail: { command: ["x", "--port", "{port}"] } } },
      /services\.mail uses \{port\} but sets no "port"/,
    ],
    [{ services: { "mail sink": { command: ["x"] } } }, /services\.mail sink is not a usable name/],
    [{ services: { nats: { command: ["x"] } } }, /services\.nats is a name troupe dev uses/],
    [
      { services: { a: { command: ["x"], env: { URL: "1" } }, b: { command: ["y"], env: { URL: "2" } } } },
      /services\.b\.env\.URL is also set by services\.a/,
    ],
  ];
  for (const [json, message] of cases) {
    assert.throws(
      () => resolveProjectConfig(json, context),
      (err: unknown) => err instanceof ProjectConfigError && message.test(err.message),
      JSON.stringify(json),
    );
  }
});

test("a troupe.json that is not JSON is refused naming the file", () => {
  const dir = mkdtempSync(join(scratch, "bad-"));
  writeFileSync(join(dir, "troupe.json"), "{ actors: 'x' }");
  assert.throws(
    () => readProjectConfig(dir),
    (err: unknown) =>
      err instanceof ProjectConfigError &&
      err.message.startsWith(`${join(dir, "troupe.json")} is not valid JSON`),
  );
});

test("this repository's troupe.json: the shop's contracts and its mail sink as a service", () => {
  const config = readProjectConfig(REPO_ROOT);
  assert.equal(config.contracts, "proto/gen/shop");
  assert.equal(config.gateway.jwtAudience, "troupe-shop");
  assert.deepEqual(config.services.mail?.env, { SMTP_URL: "smtp://127.0.0.1:{port}" });
});
