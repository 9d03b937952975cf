/**
 * The shape of runtime/ as its imports draw it (docs/adr/0015-package-and-public-surface.md).
 *
 * Folders. A folder is the first path segment under runtime/ (a file at the top, version.ts, is
 * a node of its own); an edge is an import, type-only ones included, from a file of one folder to
 * a file of another. Left out: the entry files (`mod.ts`: the package's faces, which gather names
 * from any folder), runtime/gen (generated) and runtime/scripts (build tooling). The folder graph
 * has no cycle, and every edge points down LAYERS: a folder imports only folders of lower layers.
 *
 * Runtime-specific code. A file is runtime-specific when it imports `node:*`, `bun:*`, `jsr:` or
 * a URL, imports a library built on Node's APIs (NODE_PACKAGES), or touches `Bun`, `Deno` or
 * `process`. The rule the code holds, so that the core runs unchanged on Bun, Deno and Node:
 *   - only runtime/platform (the adapters), runtime/cli (the command) and runtime/scripts (build
 *     tooling) are runtime-specific; runtime/testing/smtp, a test tool, may import smtp-server
 *     (a Node library) and nothing else runtime-specific;
 *   - every other runtime file reaches runtime-specific code only through runtime/platform: the
 *     code it loads, directly or through other files, is runtime-neutral until a platform/ file.
 *     The core does import platform/ modules (nats-connect.ts, async-context.ts, …); those are
 *     the doors, each a small module with one runtime-specific job. A core file that imported the
 *     CLI or the SMTP sink would carry their Node code into every actor, and fails here.
 * The actors/ files are checked as before: no `node:*`, `bun:*`, `Bun`, `Deno` or `process`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import {
  importsOfCode,
  resolveRelative,
  stripComments,
  toPosix,
  tsFilesUnder,
} from "../../scripts/source-imports.ts";

const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");

/**
 * The folders from the bottom up; a folder may import only folders of lower layers. Read
 * upwards: the wire contract and the platform adapters; credentials, permissions and
 * certificates (functions of declarations and keys); what every side uses (metrics and
 * tracing, stream flow control, call policies, NATS plumbing, the test harness); the two
 * carriers (client transports, server host); discovery and JetStream; the actor composition, the
 * gateway and the traffic decoder (which reads both $SRV and KV); a process; the CLI.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["platform", "protocol", "version.ts"],
  ["security"],
  ["observability", "streams", "resilience", "nats", "testing"],
  ["transports", "host"],
  ["discovery", "jetstream"],
  ["actor", "gateway", "inspect"],
  ["process"],
  ["cli"],
];
const NOT_IN_GRAPH = ["gen", "scripts"];

/** Where runtime-specific code may live (see the header); platform/ is also the only door to it. */
const RUNTIME_SPECIFIC_DIRS = ["runtime/platform/", "runtime/cli/", "runtime/scripts/"];
const ADAPTERS = "runtime/platform/";
/** Folders that may import one Node library and are otherwise runtime-neutral. */
const NODE_LIBRARY_USERS: ReadonlyMap<string, string> = new Map([["runtime/testing/smtp/", "smtp-server"]]);
/** Libraries built on Node's APIs (Bun and Deno run them through their Node compatibility). */
const NODE_PACKAGES = [
  "@connectrpc/connect-node",
  "@nats-io/transport-node",
  "@opentelemetry/context-async-hooks",
  "@opentelemetry/exporter-trace-otlp-http",
  "nodemailer",
  "smtp-server",
];
const RUNTIME_MODULE = /^(node|bun|jsr|npm|https?):/;
const RUNTIME_GLOBALS: readonly [RegExp, string][] = [
  [/\bfrom\s+["'](node:|bun:|jsr:|https?:)/, "imports a runtime-specific module"],
  [/\bimport\s*\(\s*["'](node:|bun:)/, "imports a runtime-specific module"],
  [/\b(globalThis\.)?(Bun|Deno)\s*\./, "uses a runtime global"],
  [/(?<![\w./-])process\s*\.(?!ts\b)/, "uses process"],
];

interface SourceFile {
  /** From the repository root, `/`-separated. */
  readonly path: string;
  /** The runtime files it imports (relative imports only), with whether only types are taken. */
  readonly imports: readonly { readonly path: string; readonly typeOnly: boolean }[];
  /** Why it is runtime-specific; empty when it is not. */
  readonly reasons: readonly string[];
}

/** What makes a source runtime-specific. `packages`: also count NODE_PACKAGES (runtime/ only). */
function runtimeSpecificReasons(source: string, packages: boolean): string[] {
  return reasonsOf(stripComments(source), packages);
}

function reasonsOf(code: string, packages: boolean): string[] {
  const reasons = RUNTIME_GLOBALS.filter(([pattern]) => pattern.test(code)).map(
    ([pattern, what]) => `${what} (${pattern})`,
  );
  for (const { specifier } of importsOfCode(code)) {
    if (RUNTIME_MODULE.test(specifier)) reasons.push(`imports ${specifier}`);
    const node = NODE_PACKAGES.find((p) => specifier === p || specifier.startsWith(`${p}/`));
    if (packages && node !== undefined) reasons.push(`imports ${node}, a library on Node's APIs`);
  }
  return [...new Set(reasons)];
}

function readSourceFile(file: string, packages: boolean): SourceFile {
  const code = stripComments(readFileSync(file, "utf8"));
  const imports = importsOfCode(code).flatMap((imp) => {
    const path = resolveRelative(ROOT, file, imp.specifier);
    if (path === undefined) return [];
    const typeOnly = !imp.dynamic && imp.names !== undefined && imp.names.every((n) => n.typeOnly);
    return [{ path, typeOnly }];
  });
  return { path: toPosix(relative(ROOT, file)), imports, reasons: reasonsOf(code, packages) };
}

let scanned: Map<string, SourceFile> | undefined;

/** Every file of runtime/ (but a built dist/), read once for all the tests. */
function runtimeFiles(): Map<string, SourceFile> {
  scanned ??= new Map(
    tsFilesUnder(join(ROOT, "runtime"), [join(ROOT, "runtime/dist")])
      .map((file) => readSourceFile(file, true))
      .map((file) => [file.path, file]),
  );
  return scanned;
}

/** `runtime/host/reply.ts` → `host`; `runtime/version.ts` → `version.ts`. */
function folderOf(path: string): string {
  return path.split("/")[1] ?? "";
}

function isEntryFile(path: string): boolean {
  return path.endsWith("/mod.ts");
}

/** Folder → folder → the file imports that make the edge (for the messages). */
function folderGraph(files: ReadonlyMap<string, SourceFile>): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of files.values()) {
    const from = folderOf(file.path);
    if (isEntryFile(file.path) || NOT_IN_GRAPH.includes(from)) continue;
    const edges = graph.get(from) ?? new Map<string, string[]>();
    graph.set(from, edges);
    for (const imp of file.imports) {
      const to = folderOf(imp.path);
      if (!imp.path.startsWith("runtime/") || to === from || NOT_IN_GRAPH.includes(to)) continue;
      edges.set(to, [...(edges.get(to) ?? []), `${file.path} → ${imp.path}`]);
    }
  }
  return graph;
}

/** Every cycle of a graph, each once, as `a → b → a` starting from its smallest node. */
function cyclesOf(graph: ReadonlyMap<string, ReadonlyMap<string, unknown>>): string[] {
  const cycles = new Set<string>();
  const walk = (node: string, path: readonly string[]) => {
    for (const next of graph.get(node)?.keys() ?? []) {
      const at = path.indexOf(next);
      if (at !== -1) {
        const cycle = path.slice(at);
        const start = cycle.indexOf([...cycle].sort()[0] ?? "");
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.add([...rotated, rotated[0]].join(" → "));
      } else if (path.length < graph.size) {
        walk(next, [...path, next]);
      }
    }
  };
  for (const node of graph.keys()) walk(node, [node]);
  return [...cycles].sort();
}

/**
 * The runtime files that reach runtime-specific code other than through platform/: walks the code
 * each non-runtime-specific file loads (type-only imports are erased, so they load nothing),
 * without entering platform/, and names the chain to the first runtime-specific file.
 */
function leaksOf(files: ReadonlyMap<string, SourceFile>): string[] {
  const leaks: string[] = [];
  const allowed = (path: string) =>
    [...RUNTIME_SPECIFIC_DIRS, ...NODE_LIBRARY_USERS.keys()].some((dir) => path.startsWith(dir));
  for (const start of files.values()) {
    if (allowed(start.path)) continue;
    const seen = new Set([start.path]);
    const queue: string[][] = [[start.path]];
    while (queue.length > 0) {
      const chain = queue.shift() ?? [];
      const file = files.get(chain.at(-1) ?? "");
      if (file === undefined || file.path.startsWith(ADAPTERS)) continue;
      if (chain.length > 1 && (allowed(file.path) || file.reasons.length > 0)) {
        leaks.push(`${chain.join(" → ")} (${file.reasons[0] ?? "runtime-specific folder"})`);
        continue;
      }
      for (const imp of file.imports) {
        if (imp.typeOnly || seen.has(imp.path)) continue;
        seen.add(imp.path);
        queue.push([...chain, imp.path]);
      }
    }
  }
  return leaks;
}

test("the folder graph of runtime/ has no cycle", () => {
  const graph = folderGraph(runtimeFiles());
  assert.ok(graph.size >= 10, `the graph sees the runtime's folders (${[...graph.keys()].join(", ")})`);
  const cycles = cyclesOf(graph);
  const detail = cycles.map((cycle) => {
    const folders = cycle.split(" → ");
    const edges = folders.slice(1).map((to, i) => graph.get(folders[i] ?? "")?.get(to)?.[0] ?? "");
    return `${cycle}\n    ${edges.join("\n    ")}`;
  });
  assert.deepEqual(detail, [], "folders that import each other");
});

test("every folder imports only folders of lower layers", () => {
  const graph = folderGraph(runtimeFiles());
  const layerOf = new Map(LAYERS.flatMap((folders, layer) => folders.map((f) => [f, layer] as const)));
  const unplaced = [...graph.keys()].filter((folder) => !layerOf.has(folder));
  assert.deepEqual(unplaced, [], "folders missing from LAYERS: place each new folder in a layer");
  const upward: string[] = [];
  for (const [from, edges] of graph) {
    for (const [to, imports] of edges) {
      if ((layerOf.get(to) ?? Number.POSITIVE_INFINITY) < (layerOf.get(from) ?? 0)) continue;
      upward.push(`${from} → ${to} (${imports.length}): ${imports[0]}`);
    }
  }
  assert.deepEqual(upward, [], "imports that do not point down LAYERS");
});

test("only platform/ and cli/ hold runtime-specific code (and the SMTP test tool its Node library)", () => {
  const files = [...runtimeFiles().values()];
  assert.ok(files.length > 50, "the scan sees the runtime's files");
  const violations = files
    .filter((file) => !RUNTIME_SPECIFIC_DIRS.some((dir) => file.path.startsWith(dir)))
    .flatMap((file) => {
      const library = [...NODE_LIBRARY_USERS].find(([dir]) => file.path.startsWith(dir))?.[1];
      return file.reasons
        .filter((reason) => library === undefined || !reason.startsWith(`imports ${library},`))
        .map((reason) => `${file.path} ${reason}`);
    });
  assert.deepEqual(violations, []);
  // The check has something to find: the adapters are runtime-specific.
  assert.ok(files.some((file) => file.path.startsWith(ADAPTERS) && file.reasons.length > 0));
});

test("the rest of runtime/ reaches runtime-specific code only through platform/", () => {
  assert.deepEqual(leaksOf(runtimeFiles()), []);
});

test("the actors use only web-standard APIs", () => {
  const files = tsFilesUnder(join(ROOT, "actors")).map((file) => readSourceFile(file, false));
  assert.ok(files.length > 5, "the scan sees the actors' files");
  const violations = files.flatMap((file) => file.reasons.map((reason) => `${file.path} ${reason}`));
  assert.deepEqual(violations, []);
});

test("the scans catch what they are for", () => {
  const offending = 'import { spawn } from "node:child_process";\nBun.serve({});\nprocess.exit(1);';
  assert.equal(runtimeSpecificReasons(offending, true).length, 4);
  assert.deepEqual(runtimeSpecificReasons('import { connect } from "@nats-io/transport-node";', true), [
    "imports @nats-io/transport-node, a library on Node's APIs",
  ]);
  const quiet = '// import "node:fs"; process.exit()\nconst glob = "actors/*/main.ts"; /* Bun.serve */';
  assert.deepEqual(runtimeSpecificReasons(quiet, true), []);

  const graph = new Map([
    ["a", new Map([["b", []]])],
    ["b", new Map([["c", []]])],
    ["c", new Map([["a", []]])],
    ["d", new Map([["a", []]])],
  ]);
  assert.deepEqual(cyclesOf(graph), ["a → b → c → a"]);

  const file = (path: string, imports: string[], reasons: string[] = []): [string, SourceFile] => [
    path,
    { path, imports: imports.map((p) => ({ path: p, typeOnly: false })), reasons },
  ];
  const leaky = new Map([
    file("runtime/actor/a.ts", ["runtime/actor/b.ts", "runtime/platform/p.ts"]),
    file("runtime/actor/b.ts", ["runtime/cli/c.ts"]),
    file("runtime/cli/c.ts", [], ["uses process"]),
    file("runtime/platform/p.ts", ["runtime/cli/c.ts"], ["imports node:fs"]),
  ]);
  assert.deepEqual(leaksOf(leaky), [
    "runtime/actor/a.ts → runtime/actor/b.ts → runtime/cli/c.ts (uses process)",
    "runtime/actor/b.ts → runtime/cli/c.ts (uses process)",
  ]);
});
