/**
 * Reads the imports of the repository's TypeScript files without a compiler: the API report
 * (scripts/api-surface.ts) and the import-graph test (tests/portable/import-graph.test.ts) both
 * need them, on Bun, Deno and Node alike. The code follows the project's own style (one
 * statement per import, `.ts` specifiers), so a small lexer that blanks comments and a
 * statement-shaped pattern are enough; it is not a general JavaScript parser.
 */
import { readdirSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";

/** One name an import or re-export statement takes from a module. */
export interface ImportedName {
  /** The name in the module imported from. */
  readonly name: string;
  /** The local name (import) or exported name (re-export). */
  readonly alias: string;
  /** `type X`, or every name of an `import type { … }` / `export type { … }`. */
  readonly typeOnly: boolean;
}

export interface SourceImport {
  readonly specifier: string;
  /** The names taken; undefined for a whole module (`* as`, a default, a side effect, `import()`). */
  readonly names: readonly ImportedName[] | undefined;
  /** `export … from`: the statement re-exports what it imports. */
  readonly reexport: boolean;
  /** `import("…")` with a literal specifier. */
  readonly dynamic: boolean;
}

/**
 * The source with every comment replaced by spaces (newlines kept, so offsets and line numbers
 * stay), strings, template literals and regular expressions left as they are: a `/*` inside a
 * string (a glob, a subject wildcard) must not start a comment. A `/` starts a regular
 * expression where an operand is expected (after an operator, a bracket or a keyword).
 */
export function stripComments(source: string): string {
  const parts: string[] = [];
  let i = 0;
  let regexAllowed = true;
  // The brace depth at each open `${` of the template literals around the current position.
  const substitutions: number[] = [];
  let braces = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === "`" || (c === "}" && substitutions.at(-1) === braces)) {
      // A template literal, or its text after a `${…}` substitution.
      if (c === "}") substitutions.pop();
      TEMPLATE_TEXT.lastIndex = i + 1;
      const opensSubstitution = TEMPLATE_TEXT.exec(source)?.[1] === "${";
      if (opensSubstitution) substitutions.push(braces);
      parts.push(source.slice(i, TEMPLATE_TEXT.lastIndex));
      i = TEMPLATE_TEXT.lastIndex;
      regexAllowed = opensSubstitution;
      continue;
    }
    if (c === "/" && regexAllowed) {
      REGEX_LITERAL.lastIndex = i;
      const literal = REGEX_LITERAL.exec(source)?.[0];
      if (literal !== undefined) {
        parts.push(literal);
        i += literal.length;
        regexAllowed = false;
        continue;
      }
    }
    TOKEN.lastIndex = i;
    const token = TOKEN.exec(source)?.[0] ?? c ?? "";
    i += token.length;
    if (token.startsWith("//") || token.startsWith("/*")) {
      parts.push(token.replace(/[^\n]/g, " "));
      continue;
    }
    parts.push(token);
    if (/^\s/.test(token)) continue;
    if (token[0] === '"' || token[0] === "'") regexAllowed = false;
    else if (/^[\w$]/.test(token)) regexAllowed = OPERAND_KEYWORDS.has(token);
    else {
      if (token === "{") braces++;
      if (token === "}") braces--;
      regexAllowed = /[(,=:[!&|?{};+\-*%<>~^]/.test(token);
    }
  }
  return parts.join("");
}

// A comment, a string, a word, a run of white space, or any one character.
const TOKEN =
  /\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|[\w$]+|\s+|[\s\S]/y;
// The text of a template literal up to its end or its next substitution (group 1 says which).
const TEMPLATE_TEXT = /(?:[^`\\$]|\\[\s\S]|\$(?!\{))*(`|\$\{)?/y;
const REGEX_LITERAL = /\/(?![/*])(?:[^/\\\n[]|\\.|\[(?:[^\]\\\n]|\\.)*\])+\/[a-z]*/y;
const OPERAND_KEYWORDS = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

// `import … from "x"`, `export … from "x"` at the start of a statement; the clause is a
// default name, `* as x`, `{ … }`, or a default followed by one of the other two.
const STATEMENT =
  /(?:^|[;}\n])[ \t]*(import|export)\s+(type\s+)?((?:[\w$]+\s*,\s*)?(?:\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?)|[\w$]+)\s*from\s*["']([^"']+)["']/g;
const SIDE_EFFECT = /(?:^|[;}\n])[ \t]*import\s*["']([^"']+)["']/g;
const DYNAMIC = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** The imports and re-exports of a TypeScript source file (comments are ignored). */
export function importsOf(source: string): SourceImport[] {
  return importsOfCode(stripComments(source));
}

/** The imports of source code whose comments `stripComments` has already blanked. */
export function importsOfCode(code: string): SourceImport[] {
  const found: SourceImport[] = [];
  for (const m of code.matchAll(STATEMENT)) {
    const clause = m[3] ?? "";
    const braces = /\{([^}]*)\}/.exec(clause);
    const statementTypeOnly = m[2] !== undefined;
    const names =
      braces === null || clause.includes("*") || /^[\w$]+\s*,/.test(clause)
        ? undefined
        : (braces[1] ?? "")
            .split(",")
            .map((item) => item.trim())
            .filter((item) => item !== "")
            .map((item) => {
              const parsed = /^(type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(item);
              if (parsed === null) throw new Error(`cannot read the import item "${item}"`);
              const name = parsed[2] ?? "";
              return {
                name,
                alias: parsed[3] ?? name,
                typeOnly: statementTypeOnly || parsed[1] !== undefined,
              };
            });
    found.push({ specifier: m[4] ?? "", names, reexport: m[1] === "export", dynamic: false });
  }
  for (const m of code.matchAll(SIDE_EFFECT)) {
    found.push({ specifier: m[1] ?? "", names: undefined, reexport: false, dynamic: false });
  }
  for (const m of code.matchAll(DYNAMIC)) {
    found.push({ specifier: m[1] ?? "", names: undefined, reexport: false, dynamic: true });
  }
  return found;
}

/** Every `.ts` file under `dir` (absolute paths, sorted), skipping node_modules and `skip`. */
export function tsFilesUnder(dir: string, skip: readonly string[] = []): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (name === "node_modules" || skip.includes(path)) return [];
      if (statSync(path).isDirectory()) return tsFilesUnder(path, skip);
      return name.endsWith(".ts") ? [path] : [];
    });
}

/** The file a relative specifier names, relative to `root` with `/` separators; undefined for a package. */
export function resolveRelative(root: string, fromFile: string, specifier: string): string | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  return toPosix(relative(root, normalize(join(dirname(fromFile), specifier))));
}

export function toPosix(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}
