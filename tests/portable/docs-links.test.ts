/**
 * Keeps the documentation whole (docs/contributing.md, "Documentation"): every relative link in
 * the repository's Markdown files resolves to a file or folder inside the repository (and a
 * `#anchor` to a heading of the Markdown file it names), nothing points at the design notes that
 * lived outside the repository, and README.md stays a landing page. External links (https:) are
 * not followed: the test runs without a network.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const THIS_FILE = "tests/portable/docs-links.test.ts";
/** Folders never scanned: dependencies, build output, local state, version control. */
const SKIPPED_DIRS = new Set(["node_modules", "dist", "tmp", ".git", ".troupe"]);
/** The longest README.md may grow: it is the landing page, the manual lives in docs/guide/. */
const README_MAX_LINES = 260;
/**
 * Text that names the design notes kept outside the repository while it was young (their content
 * is docs/design.md and docs/contributing.md now), in code and in Markdown. Built from parts so
 * that this file does not match itself.
 */
const STALE_REFERENCES: readonly RegExp[] = [
  new RegExp(["/work/", "shared"].join("")),
  new RegExp(["\\b(?:DESIGN|STYLE)", "\\.md\\b"].join("")),
];
/**
 * In Markdown, also any mention of the folder beside the repository that held them (code may
 * import bench/shared/ as `../shared/`; documentation names it `bench/shared/`).
 */
const OUTSIDE_REFERENCES: readonly RegExp[] = [
  ...STALE_REFERENCES,
  new RegExp(["(?<![\\w/])\\.\\./", "shared\\b"].join("")),
];

/** Repository-relative paths (with `/`) of the files under `dir` that `keep` accepts. */
function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return SKIPPED_DIRS.has(name) ? [] : filesUnder(path, keep);
    const rel = relative(ROOT, path).split(sep).join("/");
    return keep(rel) ? [rel] : [];
  });
}

interface Link {
  readonly target: string;
  readonly line: number;
}

/** Markdown with fenced code blocks blanked out (line numbers kept) and inline code removed. */
function proseOf(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split("\n").map((line) => {
    const marker = /^\s*(```+|~~~+)/.exec(line)?.[1];
    if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      return "";
    }
    if (marker !== undefined) {
      fence = marker;
      return "";
    }
    return line.replace(/(`+)[^`]*?\1/g, "");
  });
}

/** The targets of inline links and images `[text](target "title")` and of `[label]: target` definitions. */
function linksOf(markdown: string): Link[] {
  const links: Link[] = [];
  proseOf(markdown).forEach((line, index) => {
    for (const match of line.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+["'(][^)]*)?\)/g)) {
      links.push({ target: (match[1] ?? "").replace(/^<|>$/g, ""), line: index + 1 });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(line);
    if (definition?.[1] !== undefined) {
      links.push({ target: definition[1].replace(/^<|>$/g, ""), line: index + 1 });
    }
  });
  return links;
}

/** GitHub's anchors of a Markdown file's headings (`## The troupe command` → `the-troupe-command`). */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? undefined : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link's text stays
      .replace(/<[^>]+>/g, "");
    const slug = text
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** What is wrong with the links and text of the Markdown file `file` (repository-relative). */
function problemsOf(file: string, markdown: string): string[] {
  const problems: string[] = [];
  const lines = markdown.split("\n");
  lines.forEach((line, index) => {
    if (OUTSIDE_REFERENCES.some((pattern) => pattern.test(line))) {
      problems.push(`${file}:${index + 1} points outside the repository: ${line.trim()}`);
    }
  });
  for (const { target, line } of linksOf(markdown)) {
    const where = `${file}:${line}`;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
      if (!/^(https?|mailto):/i.test(target))
        problems.push(`${where} links ${target}: only https, http and mailto leave the repository`);
      continue;
    }
    const hash = target.indexOf("#");
    const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const absolute =
      pathPart === ""
        ? join(ROOT, file)
        : pathPart.startsWith("/")
          ? join(ROOT, pathPart)
          : resolve(ROOT, dirname(file), pathPart);
    const inRepo = relative(ROOT, absolute);
    if (inRepo.startsWith("..") || resolve(ROOT, inRepo) !== absolute) {
      problems.push(`${where} links ${target}, outside the repository`);
      continue;
    }
    if (!existsSync(absolute)) {
      problems.push(`${where} links ${target}: no such file`);
      continue;
    }
    if (anchor !== undefined && anchor !== "" && absolute.endsWith(".md") && statSync(absolute).isFile()) {
      const source = pathPart === "" ? markdown : readFileSync(absolute, "utf8");
      if (!anchorsOf(source).has(anchor.toLowerCase()))
        problems.push(`${where} links ${target}: no heading #${anchor}`);
    }
  }
  return problems;
}

const markdownFiles = filesUnder(ROOT, (path) => path.endsWith(".md"));

test("every relative link in the Markdown files resolves inside the repository", () => {
  for (const expected of ["README.md", "docs/design.md", "docs/contributing.md", "docs/guide/README.md"]) {
    assert.ok(markdownFiles.includes(expected), `the scan sees ${expected}`);
  }
  const problems = markdownFiles.flatMap((file) => problemsOf(file, readFileSync(join(ROOT, file), "utf8")));
  assert.deepEqual(problems, []);
});

test("README.md stays a landing page", () => {
  const lines = readFileSync(join(ROOT, "README.md"), "utf8").trimEnd().split("\n").length;
  assert.ok(
    lines <= README_MAX_LINES,
    `README.md has ${lines} lines, at most ${README_MAX_LINES}: move detail to docs/guide/`,
  );
});

test("no code cites the design notes that lived outside the repository", () => {
  const code = [
    ...["runtime", "actors", "tests", "scripts", "bench", "proto", ".ci"].flatMap((dir) =>
      filesUnder(join(ROOT, dir), (path) => path !== THIS_FILE),
    ),
    ...readdirSync(ROOT).filter((name) => statSync(join(ROOT, name)).isFile()),
  ];
  assert.ok(code.includes("runtime/mod.ts") && code.includes("buf.yaml"), "the scan sees the code");
  const hits = code.flatMap((path) => {
    const text = readFileSync(join(ROOT, path), "utf8");
    return STALE_REFERENCES.filter((pattern) => pattern.test(text)).map((pattern) => `${path} (${pattern})`);
  });
  assert.deepEqual(hits, []);
});

test("the checks catch a broken link, a bad anchor, a link out of the repository and a stale reference", () => {
  const broken = [
    "[gone](no-such-page.md)",
    "[anchor](README.md#no-such-heading)",
    "[out](../../../elsewhere.md)",
    `[design](${["..", "/shared/", "DESIGN", ".md"].join("")})`,
    "[file](file:///etc/passwd)",
    "[ok](README.md#the-troupe-guide) [ok](../design.md#subjects) [web](https://nats.io/)",
    "`[in code](ignored.md)`",
    "```",
    "[in a fence](ignored.md)",
    "```",
  ].join("\n");
  const problems = problemsOf("docs/guide/example.md", broken);
  const lines = problems.map((p) => Number(/:(\d+) /.exec(p)?.[1]));
  // Line 4 twice: it names the notes that lived outside, and its link (docs/shared/…) is missing.
  assert.deepEqual(lines, [4, 1, 2, 3, 4, 5], problems.join("\n"));
  assert.deepEqual(
    anchorsOf("# A `b` c\n## Keyed actors — the direction\n## A `b` c\n"),
    new Set(["a-b-c", "keyed-actors--the-direction", "a-b-c-1"]),
  );
});
