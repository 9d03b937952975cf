/**
 * The project files an actor's process loads, for `troupe dev --watch`: its main file and every
 * file reached from it through relative imports (`./x.ts`, `../shared/y.ts`, `import("./z.ts")`),
 * at any depth. Packages (`troupe`, `@connectrpc/connect`) are not followed: they live in
 * node_modules, which nobody edits while developing.
 *
 * The specifiers are found by a pattern, not a parser: one in a comment or a string may add a
 * file too many (an extra restart, never a missed one), and one that is computed at run time, a
 * path alias (package.json `imports`, tsconfig `paths`) or a file read with `readFile` is not
 * seen. A TypeScript parser would find the same relative imports at the price of a dependency of
 * the CLI on a compiler; the pattern is enough for what it decides (which actors to restart).
 */
import { fileExists, isDir, parentDir, readTextFile, resolvePath } from "../../platform/files.ts";

/** `from "x"`, `import "x"`, `import("x")`, `require("x")`, `export … from "x"`. */
const SPECIFIER = /(?:\bfrom|\bimport|\brequire)\s*\(?\s*(["'])([^"'\n]+)\1/g;

/** Files whose imports are read; other imported files (JSON …) are leaves. */
const SCRIPT = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/** What an extensionless specifier may name, in the order runtimes try them. */
const EXTENSIONS = [".ts", ".tsx", ".mts", ".js", ".mjs", ".jsx", ".cts", ".cjs", ".json"];

/** The relative specifiers `source` imports, in order of appearance, each once. */
export function relativeSpecifiers(source: string): string[] {
  const found = new Set<string>();
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = match[2] ?? "";
    if (specifier.startsWith("./") || specifier.startsWith("../")) found.add(specifier);
  }
  return [...found];
}

/**
 * The file `specifier` names from `fromFile`, as runtimes resolve it: as written, then a
 * TypeScript source for a `.js` specifier (`./x.js` → `./x.ts`), then with an extension, then as
 * a folder's index. Undefined when none exists.
 */
export function resolveRelativeImport(fromFile: string, specifier: string): string | undefined {
  const target = resolvePath(parentDir(fromFile), specifier.replace(/[?#].*$/, ""));
  const candidates = [target];
  const js = /\.([cm]?)js(x?)$/.exec(target);
  if (js !== null) candidates.push(`${target.slice(0, js.index)}.${js[1]}ts${js[2]}`);
  candidates.push(...EXTENSIONS.map((ext) => target + ext));
  candidates.push(...EXTENSIONS.map((ext) => resolvePath(target, `index${ext}`)));
  return candidates.find((file) => fileExists(file) && !isDir(file));
}

/**
 * Every file `entry` loads through relative imports, `entry` included (absolute paths). A file
 * that cannot be read ends its branch: a broken or missing import is the runtime's to report.
 */
export function importGraph(entry: string): Set<string> {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (!SCRIPT.test(file)) continue;
    const source = readTextFile(file);
    if (source === undefined) continue;
    for (const specifier of relativeSpecifiers(source)) {
      const imported = resolveRelativeImport(file, specifier);
      if (imported === undefined || seen.has(imported) || imported.includes("/node_modules/")) continue;
      seen.add(imported);
      queue.push(imported);
    }
  }
  return seen;
}
