/**
 * `troupe dev --watch` without processes: the relative imports an actor loads (import-graph.ts),
 * which actors a change concerns and which folders are watched (dev-watch.ts), the watch itself
 * on the real file system of each runtime (`node:fs` `watch`, recursive), and the restart
 * sequence of one actor (actor-restarter.ts) with stand-in processes. The real restart of actor
 * processes is tests/e2e/troupe-dev-watch.test.ts.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import type { ExitStatus } from "troupe/testing";
import { createActorRestarter, describeFiles } from "../../runtime/cli/dev/actor-restarter.ts";
import type { Printer } from "../../runtime/cli/dev/dev-console.ts";
import { actorsToRestart, isIgnored, startDevWatch, watchRoots } from "../../runtime/cli/dev/dev-watch.ts";
import { findActors } from "../../runtime/cli/dev/find-actors.ts";
import { importGraph, relativeSpecifiers } from "../../runtime/cli/dev/import-graph.ts";
import type { SupervisedProcess } from "../../runtime/cli/dev/supervised-process.ts";

const scratch = mkdtempSync(join(tmpdir(), "troupe-dev-watch-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes `files` (path relative to `root` → text) and returns `root`. */
function project(name: string, files: Record<string, string>): string {
  const root = join(scratch, name);
  for (const [path, text] of Object.entries(files)) write(root, path, text);
  return root;
}

function write(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

/** The shape of a small project: two actors, a shared folder, generated contracts. */
const FILES = {
  "actors/alpha/main.ts": `import { runActor } from "troupe";\nimport { alpha } from "./actor.ts";\nawait runActor(alpha);\n`,
  "actors/alpha/actor.ts": [
    `import type { X } from "../shared/types.js"; // .js names the .ts source`,
    `import {`,
    `  greet,`,
    `} from "../shared/greet"; // no extension`,
    `export * from "../../gen/echo_pb.ts";`,
    `import seed from "./seed.json" with { type: "json" };`,
    `const lazy = () => import("./lazy.ts");`,
    `import "./missing.ts";`,
    `import { connect } from "@nats-io/transport-node";`,
  ].join("\n"),
  "actors/alpha/seed.json": "{}",
  "actors/alpha/lazy.ts": `import { alpha } from "./actor.ts"; // a cycle`,
  "actors/alpha/actor.test.ts": `import { alpha } from "./actor.ts";`,
  "actors/beta/main.ts": `import { beta } from "./actor.ts";`,
  "actors/beta/actor.ts": `import { helper } from "../shared/helper/index.ts";\nimport { config } from "../../config.ts";`,
  "actors/shared/types.ts": `export type X = string;`,
  "actors/shared/greet.ts": `export const greet = "hi";`,
  "actors/shared/helper/index.ts": `export const helper = 1;`,
  "actors/shared/unused.ts": `export const unused = 1;`,
  "gen/echo_pb.ts": `import { file_troupe_v1_options } from "troupe/gen/troupe/v1/options_pb.js";`,
  "config.ts": `export const config = {};`,
  "README.md": "# not loaded",
};

test("the relative imports of a file, in every form, each once", () => {
  assert.deepEqual(
    relativeSpecifiers(
      [
        `import a from "./a.ts";`,
        `import type { B } from '../b.js';`,
        `import {\n  c,\n  d,\n} from "./c";`,
        `export * from "./e.ts";`,
        `export { f } from "./f.ts";`,
        `import "./side-effect.ts";`,
        `const g = await import("./g.ts");`,
        `const h = require("./h.cjs");`,
        `import a2 from "./a.ts";`,
        `import { runActor } from "troupe";`,
        `import x from "/absolute/x.ts";`,
      ].join("\n"),
    ),
    ["./a.ts", "../b.js", "./c", "./e.ts", "./f.ts", "./side-effect.ts", "./g.ts", "./h.cjs"],
  );
});

test("an actor's import graph: its files and what they import from elsewhere, not packages", () => {
  const root = project("graph", FILES);
  const rel = (files: Set<string>) => [...files].map((file) => file.slice(root.length + 1)).sort();
  assert.deepEqual(rel(importGraph(join(root, "actors/alpha/main.ts"))), [
    "actors/alpha/actor.ts",
    "actors/alpha/lazy.ts",
    "actors/alpha/main.ts",
    "actors/alpha/seed.json",
    "actors/shared/greet.ts",
    "actors/shared/types.ts",
    "gen/echo_pb.ts",
  ]);
  assert.deepEqual(rel(importGraph(join(root, "actors/beta/main.ts"))), [
    "actors/beta/actor.ts",
    "actors/beta/main.ts",
    "actors/shared/helper/index.ts",
    "config.ts",
  ]);
});

test("a change restarts the actors whose folder holds it or that load it, and no other", () => {
  const root = "/p";
  const alpha = {
    name: "alpha",
    folder: "/p/actors/alpha",
    loads: new Set(["/p/actors/alpha/main.ts", "/p/actors/shared/greet.ts", "/p/gen/echo_pb.ts"]),
  };
  const beta = {
    name: "beta",
    folder: "/p/actors/beta",
    loads: new Set(["/p/actors/beta/main.ts", "/p/actors/shared/greet.ts", "/p/actors/alpha/actor.test.ts"]),
  };
  const restarts = (...changed: string[]) =>
    Object.fromEntries(
      actorsToRestart(
        changed.map((path) => join(root, path)),
        [alpha, beta],
      ),
    );
  assert.deepEqual(restarts("actors/alpha/notes.txt"), { alpha: ["/p/actors/alpha/notes.txt"] });
  assert.deepEqual(restarts("actors/shared/greet.ts"), {
    alpha: ["/p/actors/shared/greet.ts"],
    beta: ["/p/actors/shared/greet.ts"],
  });
  assert.deepEqual(restarts("gen/echo_pb.ts", "actors/beta/main.ts"), {
    alpha: ["/p/gen/echo_pb.ts"],
    beta: ["/p/actors/beta/main.ts"],
  });
  assert.deepEqual(restarts("actors/shared/unused.ts", "gen/other_pb.ts", "README.md"), {});
  // A test file of a folder restarts nobody, unless an actor loads it.
  assert.deepEqual(restarts("actors/alpha/actor.test.ts"), { beta: ["/p/actors/alpha/actor.test.ts"] });
  assert.deepEqual(restarts("actors/beta/actor.test.ts"), {});
  // A folder that merely starts with an actor's name is not its folder.
  assert.deepEqual(restarts("actors/alphabet/x.ts"), {});
});

test("watched: the actors folder, the top folder of each file loaded from elsewhere, never node_modules", () => {
  const roots = watchRoots("/p", "/p/actors", [
    "/p/actors/alpha/main.ts",
    "/p/actors/shared/greet.ts",
    "/p/proto/gen/shop/v1/user_pb.ts",
    "/p/proto/gen/shop/v1/order_pb.ts",
    "/p/config.ts",
    "/p/node_modules/x/index.ts",
    "/p/.hidden/x.ts",
    "/elsewhere/lib/util.ts",
  ]);
  assert.deepEqual(Object.fromEntries(roots), {
    "/p/actors": true,
    "/p/proto": true,
    "/p": false,
    "/elsewhere/lib": false,
  });
});

test("editors' own files and hidden or node_modules paths are no changes", () => {
  for (const path of [
    "/p/actors/a/.actor.ts.swp",
    "/p/actors/a/actor.ts~",
    "/p/actors/a/#actor.ts#",
    "/p/actors/a/4913",
    "/p/actors/a/.#actor.ts",
    "/p/.troupe/dev/nats/jetstream/x",
    "/p/actors/a/node_modules/x.ts",
  ]) {
    assert.equal(isIgnored("/p", path), true, path);
  }
  for (const path of ["/p/actors/a/actor.ts", "/p/actors/a/v2/x.ts", "/p/config.ts"]) {
    assert.equal(isIgnored("/p", path), false, path);
  }
  // A project inside a hidden folder is still watched.
  assert.equal(isIgnored("/home/u/.work/p", "/home/u/.work/p/actors/a/actor.ts"), false);
});

test("the watch on the real file system: one restart per burst, for the actors concerned", async () => {
  const root = project("live", FILES);
  const actorsDir = join(root, "actors");
  const actors = findActors(actorsDir, "gateway");
  assert.deepEqual(
    actors.map((actor) => actor.name),
    ["alpha", "beta"],
  );
  const batches: Record<string, string[]>[] = [];
  const newActors: string[] = [];
  const errors: string[] = [];
  let notify: () => void = () => {};
  const next = () =>
    new Promise<void>((resolve) => {
      notify = resolve;
    });
  const watch = startDevWatch({
    root,
    actorsDir,
    actors,
    loadsAlso: () => [],
    debounceMs: 100,
    onRestart: (changes) => {
      batches.push(
        Object.fromEntries(
          [...changes].map(([name, files]) => [name, files.map((f) => f.slice(root.length + 1))]),
        ),
      );
      notify();
    },
    onNewActor: (name) => {
      newActors.push(name);
      notify();
    },
    onWatchError: (dir, err) => errors.push(`${dir}: ${String(err)}`),
  });
  try {
    // An editor's save: a backup, the file, a swap file; and a file nobody loads.
    let seen = next();
    write(root, "actors/alpha/actor.ts~", "old");
    write(root, "README.md", "# changed");
    write(root, "actors/alpha/actor.ts", `${FILES["actors/alpha/actor.ts"]}\n// edited`);
    write(root, "actors/alpha/.actor.ts.swp", "swap");
    await seen;
    assert.deepEqual(batches, [{ alpha: ["actors/alpha/actor.ts"] }]);

    // A shared file at the project root, and generated code: only the actor that imports each.
    seen = next();
    write(root, "config.ts", "export const config = { edited: true };");
    await seen;
    seen = next();
    write(root, "gen/echo_pb.ts", "// regenerated");
    await seen;
    assert.deepEqual(batches.slice(1), [{ beta: ["config.ts"] }, { alpha: ["gen/echo_pb.ts"] }]);

    // A file made in a new folder, then imported: the actor that now imports it restarts, and
    // a later change of the new file restarts it again (the graph follows the code).
    seen = next();
    write(root, "actors/shared/v2/extra.ts", "export const extra = 1;");
    write(root, "actors/beta/actor.ts", `import { extra } from "../shared/v2/extra.ts";`);
    await seen;
    // (Both files in one batch, unless a slow machine delivered them more than 100 ms apart.)
    // (`as`: the deepEqual above narrowed the type of batches to its first element's.)
    const made = (batches[3] ?? {}) as Record<string, string[]>;
    assert.deepEqual(Object.keys(made), ["beta"]);
    assert.ok(made.beta?.includes("actors/beta/actor.ts"), JSON.stringify(made));
    seen = next();
    write(root, "actors/shared/v2/extra.ts", "export const extra = 2;");
    await seen;
    assert.deepEqual(batches[4], { beta: ["actors/shared/v2/extra.ts"] });

    // A folder with a main.ts that troupe dev did not start is announced, once.
    seen = next();
    write(root, "actors/gamma/main.ts", "// new");
    await seen;
    seen = next();
    write(root, "actors/gamma/main.ts", "// newer");
    write(root, "actors/alpha/lazy.ts", "// edited");
    await seen;
    assert.deepEqual(newActors, ["gamma"]);
    assert.deepEqual(batches[5], { alpha: ["actors/alpha/lazy.ts"] });
    assert.deepEqual(errors, []);
  } finally {
    watch.close();
  }
});

/** A stand-in for an actor process: exits when told, or when stopped. */
function fakeProcess(pid: number) {
  let exit: (status: ExitStatus) => void = () => {};
  const exited = new Promise<ExitStatus>((resolve) => {
    exit = resolve;
  });
  let supervised = false;
  const child: SupervisedProcess & { exit: typeof exit; readonly supervised: boolean } = {
    name: "alpha",
    pid,
    exited,
    restarts: 0,
    lastLines: () => [],
    supervise: () => {
      supervised = true;
    },
    stop: async () => {
      exit({ code: 0, signal: null });
      return exited;
    },
    kill: () => exit({ code: null, signal: "SIGKILL" }),
    exit,
    get supervised() {
      return supervised;
    },
  };
  return child;
}

function recordingPrinter(): Printer & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    line: (text) => lines.push(text),
    error: (text) => lines.push(`ERROR ${text}`),
    output: () => {},
    flush: () => {},
  };
}

test("a restart stops, starts and waits; a start that fails waits for the next change", async () => {
  const printer = recordingPrinter();
  const started: ReturnType<typeof fakeProcess>[] = [fakeProcess(100)];
  // Each readiness wait, as it begins: the test makes it ready (or lets the process exit).
  const waits: (() => void)[] = [];
  let waitBegan: () => void = () => {};
  const nextWait = async () => {
    if (waits.length === 0) await new Promise<void>((resolve) => (waitBegan = resolve));
    return waits.shift() ?? (() => {});
  };
  const restarter = createActorRestarter({
    root: "/p",
    printer,
    stop: async () => {
      await started.at(-1)?.stop(1_000);
    },
    start: () => {
      const child = fakeProcess(100 + started.length);
      started.push(child);
      return child;
    },
    waitUntilReady: (abandon) =>
      Promise.race([
        new Promise<void>((resolve) => {
          waits.push(resolve);
          waitBegan();
        }),
        abandon,
      ]),
    stopping: () => false,
  });

  restarter.request(["/p/actors/alpha/actor.ts"]);
  (await nextWait())();
  await restarter.idle();
  assert.equal(started.length, 2);
  assert.equal(started[0]?.supervised, false);
  assert.equal(started[1]?.supervised, true, "supervised once ready");
  assert.equal(printer.lines[0], "actors/alpha/actor.ts changed, restarting");
  assert.match(printer.lines[1] ?? "", /^ready \(pid 101, \d+ ms\)$/);

  // A broken file: the process exits before it is ready; nothing starts it again by itself.
  restarter.request(["/p/actors/alpha/actor.ts", "/p/actors/shared/x.ts"]);
  await nextWait();
  started[2]?.exit({ code: 1, signal: null });
  await restarter.idle();
  assert.equal(started.length, 3);
  assert.equal(started[2]?.supervised, false, "a process that never was ready is not restarted");
  assert.deepEqual(printer.lines.slice(2), [
    "actors/alpha/actor.ts and 1 more file changed, restarting",
    "ERROR exited before it was ready (code 1); it starts again at the next change",
  ]);

  // Changes while a start is still waiting restart it at once, and are gathered into one restart.
  restarter.request(["/p/actors/alpha/actor.ts"]);
  await nextWait();
  restarter.request(["/p/actors/alpha/a.ts"]);
  restarter.request(["/p/actors/alpha/b.ts"]);
  (await nextWait())();
  await restarter.idle();
  assert.equal(started.length, 5, "the superseded start and one more");
  assert.equal(started[3]?.supervised, false);
  assert.equal(started[4]?.supervised, true);
  assert.deepEqual(printer.lines.slice(4, 6), [
    "actors/alpha/actor.ts changed, restarting",
    "actors/alpha/a.ts and 1 more file changed, restarting",
  ]);
  assert.match(printer.lines[6] ?? "", /^ready \(pid 104/);
  assert.equal(printer.lines.length, 7);
});

test("the files of a restart line", () => {
  assert.equal(describeFiles("/p", ["/p/actors/a/x.ts"]), "actors/a/x.ts");
  assert.equal(describeFiles("/p", ["/p/a.ts", "/p/b.ts", "/p/c.ts"]), "a.ts and 2 more files");
  assert.equal(describeFiles("/p", ["/lib/x.ts"]), "/lib/x.ts");
});
