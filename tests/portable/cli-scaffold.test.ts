/**
 * `troupe new` and `troupe add actor` without npm: the names they accept, the files they plan
 * (versions pinned as this repository's package.json pins them, every placeholder filled, the
 * actor's name equal to its folder's) and what they write or refuse in a temporary folder.
 * tests/e2e/new-project.test.ts installs and runs such a project.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { UsageError } from "../../runtime/cli/command.ts";
import { addCommand, chooseProtoPackage, parseAddArgs } from "../../runtime/cli/commands/add-command.ts";
import { newCommand, parseNewArgs } from "../../runtime/cli/commands/new-command.ts";
import { actorFiles, type ScaffoldFile } from "../../runtime/cli/scaffold/actor-files.ts";
import { findProtoPackages } from "../../runtime/cli/scaffold/find-proto-packages.ts";
import { newProjectFiles, SHARED_DEPENDENCIES } from "../../runtime/cli/scaffold/new-project.ts";
import { defaultProjectLayout, readProjectLayout } from "../../runtime/cli/scaffold/project-layout.ts";
import {
  camelCase,
  checkName,
  checkProtoPackage,
  pascalCase,
  protoPackageOf,
  snakeCase,
} from "../../runtime/cli/scaffold/project-names.ts";
import { devDependencyVersions, renderTemplate } from "../../runtime/cli/scaffold/troupe-package.ts";
import { REPO_ROOT } from "../support/actor-process.ts";

const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  devDependencies: Record<string, string>;
};
const runtimePackage = JSON.parse(readFileSync(join(REPO_ROOT, "runtime", "package.json"), "utf8")) as {
  version: string;
  dependencies: Record<string, string>;
};

const scratch = mkdtempSync(join(tmpdir(), "troupe-scaffold-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function fileOf(files: readonly ScaffoldFile[], path: string): string {
  const file = files.find((f) => f.path === path);
  assert.ok(file, `${path} is among ${files.map((f) => f.path).join(", ")}`);
  return file.text;
}

/** Runs a command with console.log silenced; resolves with its exit code and what it printed. */
async function quietly(run: () => Promise<number>): Promise<{ code: number; printed: string }> {
  const log = console.log;
  const error = console.error;
  let printed = "";
  console.log = (...args: unknown[]) => {
    printed += `${args.join(" ")}\n`;
  };
  console.error = console.log;
  try {
    return { code: await run(), printed };
  } finally {
    console.log = log;
    console.error = error;
  }
}

describe("names", () => {
  test("project and actor names are lower-case kebab; gateway is no actor name", () => {
    for (const good of ["shop", "order-history", "a1", "v-2"]) assert.equal(checkName("actor", good), good);
    for (const bad of ["", "Shop", "1shop", "order_history", "a--b", "a-", "-a", "a.b", "a b"]) {
      assert.throws(() => checkName("actor", bad), UsageError, bad);
    }
    assert.throws(() => checkName("actor", "gateway"), /gateway/);
    assert.equal(checkName("project", "gateway"), "gateway");
  });

  test("a name maps onto proto and TypeScript names", () => {
    assert.equal(snakeCase("order-history"), "order_history");
    assert.equal(camelCase("order-history"), "orderHistory");
    assert.equal(pascalCase("order-history"), "OrderHistory");
    assert.equal(pascalCase("v-2"), "V2");
    assert.equal(protoPackageOf("my-shop"), "my_shop.v1");
  });

  test("a proto package is versioned and not one the troupe package ships", () => {
    assert.equal(checkProtoPackage("acme.billing.v2"), "acme.billing.v2");
    for (const bad of ["shop", "Shop.v1", "shop.v0", "shop.V1", "shop..v1"]) {
      assert.throws(() => checkProtoPackage(bad), UsageError, bad);
    }
    assert.throws(() => protoPackageOf("troupe"), /clash/);
    assert.throws(() => checkProtoPackage("google.api.v1"), /clash/);
  });
});

describe("troupe new", () => {
  const env = { cwd: "/work", troupeVersion: "1.2.3" };

  test("arguments: one folder; the name defaults to its name; --troupe takes a version or a path", () => {
    assert.deepEqual(parseNewArgs(["apps/my-shop"], env), {
      dir: "apps/my-shop",
      name: "my-shop",
      troupeSpec: "1.2.3",
    });
    const tagged = parseNewArgs(["x", "--name", "shop", "--troupe", "next"], env);
    assert.ok(tagged !== "help");
    assert.equal(tagged.name, "shop");
    assert.equal(tagged.troupeSpec, "next");
    const fromTarball = parseNewArgs(["apps/shop", "--troupe", "./troupe-1.2.3.tgz"], env);
    assert.ok(fromTarball !== "help");
    assert.equal(fromTarball.troupeSpec, "file:../../troupe-1.2.3.tgz");
    const fromFolder = parseNewArgs(["/elsewhere/shop", "--troupe", "/src/troupe/runtime"], env);
    assert.ok(fromFolder !== "help");
    assert.equal(fromFolder.troupeSpec, "file:../../src/troupe/runtime");
    assert.equal(parseNewArgs(["--help"], env), "help");
    assert.throws(() => parseNewArgs([], env), /folder is missing/);
    assert.throws(() => parseNewArgs(["a", "b"], env), /one folder/);
    assert.throws(() => parseNewArgs(["MyShop"], env), /pass --name/);
    assert.throws(() => parseNewArgs(["x", "--name", "My_Shop"], env), /kebab/);
    assert.throws(() => parseNewArgs(["x", "--bogus"], env), UsageError);
  });

  const files = newProjectFiles({ name: "my-shop", troupeSpec: "file:../troupe.tgz" });

  test("the project: its files, no placeholder left", () => {
    assert.deepEqual(files.map((f) => f.path).sort(), [
      ".gitignore",
      "README.md",
      "actors/greeter/actor.test.ts",
      "actors/greeter/actor.ts",
      "actors/greeter/main.ts",
      "buf.gen.yaml",
      "buf.yaml",
      "package.json",
      "proto/my_shop/v1/greeter.proto",
      "troupe.json",
      "tsconfig.json",
    ]);
    for (const file of files) assert.doesNotMatch(file.text, /\{\{\w+\}\}/, file.path);
    assert.match(fileOf(files, "proto/my_shop/v1/greeter.proto"), /^package my_shop\.v1;$/m);
    assert.match(fileOf(files, "proto/my_shop/v1/greeter.proto"), /option \(troupe\.v1\.event\)/);
    assert.match(fileOf(files, "actors/greeter/actor.ts"), /name: "greeter"/);
    assert.match(
      fileOf(files, "actors/greeter/actor.ts"),
      /from "\.\.\/\.\.\/gen\/my_shop\/v1\/greeter_pb\.ts"/,
    );
    assert.match(fileOf(files, "buf.gen.yaml"), /^ {4}out: gen$/m);
    assert.match(fileOf(files, "buf.yaml"), /- path: node_modules\/troupe\/proto/);
    assert.deepEqual(JSON.parse(fileOf(files, "troupe.json")), { actors: "actors", contracts: "gen" });
  });

  test("package.json pins what this repository uses", () => {
    const manifest = JSON.parse(fileOf(files, "package.json")) as {
      name: string;
      type: string;
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    assert.equal(manifest.name, "my-shop");
    assert.equal(manifest.type, "module");
    assert.deepEqual(Object.keys(manifest.scripts).sort(), [
      "build",
      "check",
      "generate",
      "start",
      "test",
      "test:deno",
      "test:node",
    ]);
    assert.equal(manifest.dependencies.troupe, "file:../troupe.tgz");
    for (const name of SHARED_DEPENDENCIES) {
      assert.equal(manifest.dependencies[name], runtimePackage.dependencies[name], name);
    }
    // The table next to the templates is the repository's own pins, and stays so.
    const table = devDependencyVersions();
    assert.deepEqual(manifest.devDependencies, table);
    for (const [name, version] of Object.entries(table)) {
      assert.equal(version, rootPackage.devDependencies[name], `${name} in the root package.json`);
    }
    // The generated code and its runtime library come from one protobuf-es release.
    assert.equal(table["@bufbuild/protoc-gen-es"], runtimePackage.dependencies["@bufbuild/protobuf"]);
  });

  test("writes into a new or empty folder, refuses a non-empty one", async () => {
    const dir = join(scratch, "new-shop");
    const first = await quietly(() => newCommand.run([dir, "--troupe", "1.0.0"]));
    assert.equal(first.code, 0, first.printed);
    assert.match(first.printed, /npm run generate/);
    assert.match(
      readFileSync(join(dir, "proto/new_shop/v1/greeter.proto"), "utf8"),
      /service GreeterService/,
    );
    const again = await quietly(() => newCommand.run([dir]));
    assert.equal(again.code, 1);
    assert.match(again.printed, /not empty/);
  });
});

describe("troupe add actor", () => {
  test("arguments: `actor <name>`, a checked name and package", () => {
    assert.deepEqual(parseAddArgs(["actor", "order-history"]), {
      actorName: "order-history",
      protoPackage: undefined,
      dir: ".",
    });
    assert.deepEqual(parseAddArgs(["actor", "billing", "--package", "acme.v2", "--dir", "p"]), {
      actorName: "billing",
      protoPackage: "acme.v2",
      dir: "p",
    });
    assert.throws(() => parseAddArgs(["service", "x"]), /actor/);
    assert.throws(() => parseAddArgs(["actor"]), /name is missing/);
    assert.throws(() => parseAddArgs(["actor", "Billing"]), /kebab/);
    assert.throws(() => parseAddArgs(["actor", "a", "b"]), /one actor/);
    assert.throws(() => parseAddArgs(["actor", "a", "--package", "nope"]), /proto package/);
  });

  test("the package: the given one, else the project's only one", () => {
    assert.equal(chooseProtoPackage("x.v1", ["shop.v1", "other.v1"]), "x.v1");
    assert.equal(chooseProtoPackage(undefined, ["shop.v1"]), "shop.v1");
    assert.throws(() => chooseProtoPackage(undefined, []), /pass --package/);
    assert.throws(() => chooseProtoPackage(undefined, ["a.v1", "b.v1"]), /several/);
  });

  test("the skeleton: contract and folder named after the actor", () => {
    const files = actorFiles({
      actorName: "order-history",
      protoPackage: "shop.v1",
      layout: { actors: "services", contracts: "src/gen" },
    });
    assert.deepEqual(
      files.map((f) => f.path),
      [
        "proto/shop/v1/order_history.proto",
        "services/order-history/actor.ts",
        "services/order-history/main.ts",
      ],
    );
    const proto = fileOf(files, "proto/shop/v1/order_history.proto");
    assert.match(proto, /^service OrderHistoryService \{$/m);
    assert.match(proto, /rpc GetOrderHistory\(GetOrderHistoryRequest\) returns \(GetOrderHistoryResponse\)/);
    const actor = fileOf(files, "services/order-history/actor.ts");
    assert.match(actor, /name: "order-history"/);
    assert.match(actor, /from "\.\.\/\.\.\/src\/gen\/shop\/v1\/order_history_pb\.ts"/);
    assert.match(actor, /export const orderHistoryActor = defineActor/);
    assert.match(fileOf(files, "services/order-history/main.ts"), /await runActor\(orderHistoryActor\);/);
  });

  test("writes into a project with troupe.json; refuses an existing actor and a folder without one", async () => {
    const dir = join(scratch, "shop");
    mkdirSync(join(dir, "proto/shop/v1"), { recursive: true });
    writeFileSync(join(dir, "proto/shop/v1/user.proto"), 'syntax = "proto3";\npackage shop.v1;\n');
    const missing = await quietly(() => addCommand.run(["actor", "billing", "--dir", dir]));
    assert.equal(missing.code, 1);
    assert.match(missing.printed, /no troupe\.json/);

    writeFileSync(join(dir, "troupe.json"), JSON.stringify({ actors: "actors", contracts: "gen" }));
    assert.deepEqual(readProjectLayout(dir), defaultProjectLayout);
    assert.deepEqual(findProtoPackages(join(dir, "proto")), ["shop.v1"]);
    const added = await quietly(() => addCommand.run(["actor", "billing", "--dir", dir]));
    assert.equal(added.code, 0, added.printed);
    assert.match(readFileSync(join(dir, "actors/billing/actor.ts"), "utf8"), /name: "billing"/);
    assert.match(readFileSync(join(dir, "proto/shop/v1/billing.proto"), "utf8"), /^package shop\.v1;$/m);

    const twice = await quietly(() => addCommand.run(["actor", "billing", "--dir", dir]));
    assert.equal(twice.code, 1);
    assert.match(twice.printed, /exists already/);
    // A contract of that name with no actor folder is not overwritten either.
    rmSync(join(dir, "actors/billing"), { recursive: true });
    const contract = await quietly(() => addCommand.run(["actor", "billing", "--dir", dir]));
    assert.equal(contract.code, 1);
    assert.match(contract.printed, /billing\.proto exists already/);
  });

  test("a bad troupe.json is reported, not guessed around", () => {
    const dir = join(scratch, "bad");
    mkdirSync(dir);
    writeFileSync(join(dir, "troupe.json"), '{ "actors": 3 }');
    assert.throws(() => readProjectLayout(dir), /troupe\.json: actors must be a non-empty string, got 3/);
    writeFileSync(join(dir, "troupe.json"), "{");
    assert.throws(() => readProjectLayout(dir), /is not valid JSON/);
  });
});

test("a template placeholder without a value is an error", () => {
  assert.equal(renderTemplate("a {{x}} b", { x: "1" }), "a 1 b");
  assert.throws(() => renderTemplate("{{missing}}", {}), /\{\{missing\}\} has no value/);
});
