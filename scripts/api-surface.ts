/**
 * The public surface of the package `troupe`: every subpath of runtime/package.json `exports`
 * with the names it exports, read from the entry files (`runtime/<folder>/mod.ts`, which hold
 * only `export { … } from` statements) and, for values, checked against the module a runtime
 * loads. `npm run api` (scripts/api-report.ts) writes it to runtime/api/; the test
 * tests/portable/api-report.test.ts fails when the package and those files disagree, so every
 * change to the surface is a visible diff (docs/adr/0015-package-and-public-surface.md).
 *
 * Also here: the runtime modules that tests and benchmarks import by relative path (internals
 * tested directly), listed in runtime/api/internals-tested-directly.md.
 */
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { importsOf, resolveRelative, stripComments, toPosix, tsFilesUnder } from "./source-imports.ts";

export const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
export const PACKAGE_NAME = "troupe";
/** Where the report lives, relative to the repository root. */
export const REPORT_DIR = "runtime/api";
/** The folders whose relative imports of runtime/ are listed as internals tested directly. */
export const CONSUMER_DIRS = ["tests", "bench", "scripts"];
/** The conditions of every subpath, in the order a resolver must try them. */
export const CONDITIONS = ["troupe-source", "types", "bun", "default"] as const;
const GEN_KEY = "./gen/*.js";

export interface ExportedName {
  /** The name a user imports. */
  readonly name: string;
  /** The name in the module it comes from (differs for `x as y`). */
  readonly original: string;
  readonly kind: "value" | "type";
  /** The module that declares it, e.g. runtime/actor/define-actor.ts. */
  readonly source: string;
}

export interface Subpath {
  /** What a user writes: `troupe`, `troupe/gateway`, `troupe/gen/troupe/v1/options_pb.js`. */
  readonly specifier: string;
  /** Its key in `exports`: `.`, `./gateway`, `./gen/*.js`. */
  readonly key: string;
  /** The TypeScript file behind it (the `troupe-source` target), from the repository root. */
  readonly entry: string;
  readonly names: readonly ExportedName[];
}

export interface Surface {
  readonly subpaths: readonly Subpath[];
  /** What is wrong with the exports map or an entry file; empty when all is well. */
  readonly problems: readonly string[];
}

type ExportsMap = Readonly<Record<string, unknown>>;

export function readExportsMap(root = ROOT): ExportsMap {
  const manifest = JSON.parse(readFileSync(join(root, "runtime/package.json"), "utf8")) as {
    exports?: unknown;
  };
  if (typeof manifest.exports !== "object" || manifest.exports === null) {
    throw new Error("runtime/package.json has no exports map");
  }
  return manifest.exports as ExportsMap;
}

/** The surface as the sources declare it (no module is loaded). */
export function readSurface(root = ROOT): Surface {
  const problems: string[] = [];
  const subpaths: Subpath[] = [];
  for (const [key, target] of Object.entries(readExportsMap(root))) {
    if (key === "./package.json" || key === "./*") continue;
    if (typeof target !== "object" || target === null) {
      problems.push(`exports["${key}"] is not a map of conditions`);
      continue;
    }
    const conditions = target as Readonly<Record<string, unknown>>;
    const source = conditions["troupe-source"];
    if (typeof source !== "string") {
      problems.push(`exports["${key}"] has no troupe-source condition`);
      continue;
    }
    problems.push(...conditionProblems(key, conditions, source));
    if (key === GEN_KEY) {
      subpaths.push(...generatedSubpaths(root));
    } else if (key.includes("*")) {
      problems.push(
        `exports["${key}"]: a pattern other than ${GEN_KEY}; teach scripts/api-surface.ts to list it`,
      );
    } else {
      const entry = toPosix(join("runtime", source));
      const parsed = readEntryFile(root, entry);
      problems.push(...parsed.problems);
      subpaths.push({ specifier: specifierOf(key), key, entry, names: parsed.names });
    }
  }
  return { subpaths, problems };
}

/** troupe-source and bun name the same .ts file; types and default its .d.ts and .js in dist/. */
function conditionProblems(
  key: string,
  conditions: Readonly<Record<string, unknown>>,
  source: string,
): string[] {
  const order = Object.keys(conditions);
  const problems: string[] = [];
  if (order.join() !== CONDITIONS.join()) {
    problems.push(
      `exports["${key}"] has the conditions ${order.join(", ")}; expected ${CONDITIONS.join(", ")}`,
    );
  }
  const built = source.replace(/^\.\//, "./dist/").replace(/\.ts$/, "");
  const expected: Readonly<Record<string, string>> = {
    bun: source,
    types: `${built}.d.ts`,
    default: `${built}.js`,
  };
  for (const [condition, path] of Object.entries(expected)) {
    if (conditions[condition] !== path) {
      problems.push(
        `exports["${key}"].${condition} is ${JSON.stringify(conditions[condition])}; expected "${path}"`,
      );
    }
  }
  return problems;
}

function specifierOf(key: string): string {
  return key === "." ? PACKAGE_NAME : `${PACKAGE_NAME}/${key.slice(2)}`;
}

const EXPORT_FROM = /^export\s+(type\s+)?\{([^}]*)\}\s*from\s*"([^"]+)"\s*;/;

/** The names of an entry file, which must consist of `export { … } from "…";` statements only. */
export function readEntryFile(root: string, entry: string): { names: ExportedName[]; problems: string[] } {
  let rest = stripComments(readFileSync(join(root, entry), "utf8")).trim();
  const names: ExportedName[] = [];
  const problems: string[] = [];
  while (rest !== "") {
    const m = EXPORT_FROM.exec(rest);
    if (m === null) {
      const line = rest.split("\n")[0] ?? "";
      problems.push(`${entry} holds more than export-from statements: "${line}" (move it to a module)`);
      break;
    }
    const from = m[3] ?? "";
    const source = resolveRelative(root, join(root, entry), from);
    if (source === undefined)
      problems.push(`${entry} re-exports the package "${from}"; export runtime modules only`);
    for (const item of (m[2] ?? "").split(",").map((s) => s.trim())) {
      if (item === "") continue;
      const parsed = /^(type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(item);
      if (parsed === null) {
        problems.push(`${entry}: cannot read the export "${item}"`);
        continue;
      }
      const original = parsed[2] ?? "";
      names.push({
        name: parsed[3] ?? original,
        original,
        kind: m[1] !== undefined || parsed[1] !== undefined ? "type" : "value",
        source: source ?? from,
      });
    }
    rest = rest.slice(m[0].length).trim();
  }
  const seen = new Set<string>();
  for (const { name } of names) {
    if (seen.has(name)) problems.push(`${entry} exports ${name} twice`);
    seen.add(name);
  }
  return { names, problems };
}

/** The generated modules of runtime/gen, each its own `troupe/gen/<path>.js` subpath. */
function generatedSubpaths(root: string): Subpath[] {
  return tsFilesUnder(join(root, "runtime/gen")).map((file) => {
    const entry = toPosix(relative(root, file));
    const code = stripComments(readFileSync(file, "utf8"));
    const names = [
      ...code.matchAll(/^export\s+(?:declare\s+)?(const|let|function|class|type|interface)\s+([\w$]+)/gm),
    ].map((m): ExportedName => {
      const name = m[2] ?? "";
      const kind = m[1] === "type" || m[1] === "interface" ? "type" : "value";
      return { name, original: name, kind, source: entry };
    });
    const path = entry.slice("runtime/".length).replace(/\.ts$/, ".js");
    return { specifier: `${PACKAGE_NAME}/${path}`, key: GEN_KEY, entry, names };
  });
}

/** What a value is at run time: function, class, object, string, number, … */
export function valueKind(value: unknown): string {
  if (typeof value === "function") {
    return /^class\b/.test(Function.prototype.toString.call(value)) ? "class" : "function";
  }
  return value === null ? "null" : typeof value;
}

/** The exports of a loaded subpath: their names (`Object.keys`) and kinds. */
export async function loadValues(specifier: string): Promise<Map<string, string>> {
  const module = (await import(specifier)) as Record<string, unknown>;
  return new Map(Object.keys(module).map((name) => [name, valueKind(module[name])]));
}

/** A code-unit order that puts `defineActor` next to `DefineActor`, the same on every runtime. */
export function byName(a: string, b: string): number {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The report file of a subpath key: `troupe.md`, `troupe-gateway.md`, `troupe-gen.md`. */
export function reportFileOf(key: string): string {
  if (key === ".") return `${PACKAGE_NAME}.md`;
  const path = key.slice(2).replace(/\/?\*.*$/, "");
  return `${PACKAGE_NAME}-${path.replaceAll("/", "-")}.md`;
}

const GENERATED_NOTICE =
  "Generated by `npm run api` (scripts/api-report.ts); tests/portable/api-report.test.ts fails when\n" +
  "the package differs. Do not edit: change the entry file and regenerate.";

/** One subpath's section: its values with their kinds, then its types. */
function renderNames(
  names: readonly ExportedName[],
  kinds: ReadonlyMap<string, string>,
  heading: string,
): string[] {
  const values = names.filter((n) => n.kind === "value").map((n) => n.name);
  const types = names.filter((n) => n.kind === "type").map((n) => n.name);
  const lines = [`${values.length} values, ${types.length} types.`, ""];
  if (values.length > 0) {
    lines.push(`${heading} Values`, "");
    for (const name of values.sort(byName)) {
      lines.push(`- \`${name}\`: ${kinds.get(name) ?? "missing at run time"}`);
    }
    lines.push("");
  }
  if (types.length > 0) {
    lines.push(`${heading} Types`, "");
    for (const name of types.sort(byName)) lines.push(`- \`${name}\``);
    lines.push("");
  }
  return lines;
}

/**
 * The report files (name → content): one per subpath key, the generated modules together in
 * one, and the internals tested directly. `kinds` holds each subpath's loaded values.
 */
export function renderReport(
  surface: Surface,
  kinds: ReadonlyMap<string, ReadonlyMap<string, string>>,
  internals: readonly InternalImport[],
): Map<string, string> {
  const files = new Map<string, string[]>();
  for (const subpath of surface.subpaths) {
    const file = reportFileOf(subpath.key);
    const values = kinds.get(subpath.specifier) ?? new Map<string, string>();
    let lines = files.get(file);
    if (subpath.key === GEN_KEY) {
      if (lines === undefined) {
        lines = [
          `# ${PACKAGE_NAME}/gen/*.js`,
          "",
          "The generated code of the package's own contracts (runtime/proto: troupe/v1/options.proto and",
          "the vendored google/api files), one module per file.",
          "",
          GENERATED_NOTICE,
          "",
        ];
        files.set(file, lines);
      }
      lines.push(`## ${subpath.specifier}`, "", `From \`${subpath.entry}\`.`, "");
      lines.push(...renderNames(subpath.names, values, "###"));
    } else {
      files.set(file, [
        `# ${subpath.specifier}`,
        "",
        `Entry file \`${subpath.entry}\` (\`exports["${subpath.key}"]\` in runtime/package.json).`,
        "",
        GENERATED_NOTICE,
        "",
        ...renderNames(subpath.names, values, "##"),
      ]);
    }
  }
  files.set("internals-tested-directly.md", renderInternals(internals));
  return new Map([...files].map(([file, lines]) => [file, `${lines.join("\n").trimEnd()}\n`]));
}

/** The report as the package is now, or the problems that keep it from being written. */
export async function buildReport(): Promise<{ files: Map<string, string>; problems: string[] }> {
  const surface = readSurface();
  const problems = [...surface.problems];
  const kinds = new Map<string, Map<string, string>>();
  for (const subpath of surface.subpaths) {
    const loaded = await loadValues(subpath.specifier);
    kinds.set(subpath.specifier, loaded);
    const declared = new Set(subpath.names.filter((n) => n.kind === "value").map((n) => n.name));
    for (const name of loaded.keys()) {
      if (!declared.has(name)) {
        problems.push(`${subpath.specifier} exports the value ${name} at run time, not declared`);
      }
    }
    for (const name of declared) {
      if (!loaded.has(name)) {
        problems.push(`${subpath.specifier} declares the value ${name}, missing at run time`);
      }
    }
  }
  return { files: renderReport(surface, kinds, internalImports(surface)), problems };
}

/** A runtime module imported by relative path from tests/, bench/ or scripts/. */
export interface InternalImport {
  /** The runtime module, from the repository root. */
  readonly module: string;
  /** The names taken (`*` for a whole module). */
  readonly names: readonly string[];
  /** The files that import it, from the repository root. */
  readonly importers: readonly string[];
  /** Names that a subpath exports from this module: these belong in a package import. */
  readonly publicNames: ReadonlyMap<string, string>;
}

/** The runtime modules that tests, benchmarks and scripts import by path, merged per module. */
export function internalImports(surface: Surface, root = ROOT): InternalImport[] {
  const exportedBy = new Map<string, string>();
  const entries = new Set<string>();
  for (const subpath of surface.subpaths) {
    entries.add(subpath.entry);
    for (const n of subpath.names) {
      const key = `${n.source}#${n.original}`;
      if (!exportedBy.has(key)) exportedBy.set(key, subpath.specifier);
    }
  }
  const modules = new Map<
    string,
    { names: Set<string>; importers: Set<string>; publicNames: Map<string, string> }
  >();
  for (const dir of CONSUMER_DIRS) {
    for (const file of tsFilesUnder(join(root, dir))) {
      const importer = toPosix(relative(root, file));
      for (const imp of importsOf(readFileSync(file, "utf8"))) {
        const module = resolveRelative(root, file, imp.specifier);
        if (module === undefined || !module.startsWith("runtime/")) continue;
        let entry = modules.get(module);
        if (entry === undefined) {
          entry = { names: new Set(), importers: new Set(), publicNames: new Map() };
          modules.set(module, entry);
        }
        entry.importers.add(importer);
        for (const { name } of imp.names ?? [{ name: "*" }]) {
          entry.names.add(name);
          const specifier = entries.has(module)
            ? surface.subpaths.find((s) => s.entry === module)?.specifier
            : undefined;
          const publicAt = specifier ?? exportedBy.get(`${module}#${name}`);
          if (publicAt !== undefined) entry.publicNames.set(name, publicAt);
        }
      }
    }
  }
  return [...modules]
    .sort(([a], [b]) => byName(a, b))
    .map(([module, { names, importers, publicNames }]) => ({
      module,
      names: [...names].sort(byName),
      importers: [...importers].sort(byName),
      publicNames,
    }));
}

function renderInternals(internals: readonly InternalImport[]): string[] {
  const lines = [
    "# Internals tested directly",
    "",
    "Runtime modules that tests, benchmarks or scripts import by relative path because they unit-test",
    "(or drive) something the package does not export. Everything public is imported by its package",
    "name instead (`troupe/protocol`, …); keep this list short.",
    "",
    GENERATED_NOTICE,
    "",
    `${internals.length} modules.`,
    "",
  ];
  for (const { module, names, importers } of internals) {
    lines.push(`- \`${module}\`: ${names.map((n) => `\`${n}\``).join(", ")} (${importers.join(", ")})`);
  }
  return lines;
}
