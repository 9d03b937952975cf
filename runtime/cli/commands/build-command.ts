/**
 * `troupe build`: bundles actor processes for deployment with Bun's bundler. Each actor's
 * main file and everything it imports (troupe, the contracts, the dependencies) become one
 * module per actor plus the chunks they share, under `--outdir`, mirroring the paths of the
 * project (`actors/order/main.ts` → `dist/actors/order/main.js`). What a bundle saves is loading:
 * Node resolves, reads and compiles each of the ~400 modules an actor imports from its sources
 * one by one, and that is most of its start; bench/adoption measures both.
 *
 * Without files, it bundles every actor `troupe dev` would start (`<actors>/<name>/main.ts` of
 * troupe.json). Troupe is bundled from its TypeScript sources, which the package ships (the
 * `troupe-source` export condition), so a build does not depend on how the package was built.
 * Dynamic imports (protovalidate, the OpenTelemetry SDK) become chunks loaded when needed.
 */

import { relative, resolve } from "node:path";
import { fileExists, joinPath } from "../../platform/files.ts";
import { spawnProcess } from "../../platform/spawn-process.ts";
import { type CliCommand, parseChoice, parseFlags, UsageError } from "../command.ts";
import { type CommandIo, processIo } from "../command-io.ts";
import { findActors } from "../dev/find-actors.ts";
import { readProjectConfig } from "../project-config.ts";
import { projectProgram } from "../project-program.ts";

export const BUILD_TARGETS = ["node", "bun"] as const;
export type BuildTarget = (typeof BUILD_TARGETS)[number];

export const buildUsage = `Usage: troupe build [<actor main file>...] [options]

Bundles actor processes for deployment with Bun's bundler: each file and everything it imports
into --outdir, one module per actor and the chunks they share, at the same paths as in the
project (actors/order/main.ts -> dist/actors/order/main.js). Run a bundle with
\`node dist/actors/order/main.js\` (or bun, or deno run -A); it reads the same environment as the
sources. Without files: every actor troupe dev starts (<actors>/<name>/main.ts of troupe.json).

A bundle starts faster and takes less memory than the sources, most of all on Node, where loading
the modules is most of an actor's start.

Options:
  --target <t>         node (default: runs on Node, Deno and Bun) or bun (Bun only)
  --outdir <dir>       where the bundles go (default dist)
  --no-sourcemap       no .map files (default: a linked source map per file)
  -h, --help           this help

Needs Bun's bundler: the project's node_modules/.bin/bun, else bun on PATH.
`;

const FLAGS = {
  target: { type: "string" },
  outdir: { type: "string" },
  "no-sourcemap": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export interface BuildArgs {
  /** The actor main files; empty: every actor of the project. */
  readonly files: readonly string[];
  readonly target: BuildTarget;
  readonly outdir: string;
  readonly sourcemap: boolean;
}

export function parseBuildArgs(args: readonly string[]): BuildArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  return {
    files: positionals,
    target: parseChoice("target", values.target, BUILD_TARGETS, "node"),
    outdir: values.outdir ?? "dist",
    sourcemap: values["no-sourcemap"] !== true,
  };
}

/** The bundler's command line for `entries` (paths relative to `root`, or absolute). */
export function bundlerArgs(build: BuildArgs, root: string, entries: readonly string[]): string[] {
  return [
    "build",
    `--target=${build.target}`,
    "--format=esm",
    "--splitting",
    `--sourcemap=${build.sourcemap ? "linked" : "none"}`,
    `--root=${root}`,
    `--outdir=${build.outdir}`,
    "--entry-naming=[dir]/[name].[ext]",
    "--chunk-naming=chunks/[name]-[hash].[ext]",
    "--conditions=troupe-source",
    ...entries,
  ];
}

/** Bundles; resolves with the exit code (0: every bundle written). */
export async function runBuild(build: BuildArgs, root: string, io: CommandIo = processIo): Promise<number> {
  let entries = build.files;
  if (entries.length === 0) {
    const config = readProjectConfig(root);
    entries = findActors(joinPath(root, config.actors), config.gateway.actor).map((actor) => actor.file);
    if (entries.length === 0) {
      io.err(`troupe build: no actor to bundle: no <actors>/<name>/main.ts under ${config.actors}/`);
      return 1;
    }
  }
  const missing = entries.filter((file) => !fileExists(resolve(root, file)));
  if (missing.length > 0) throw new UsageError(`no such file: ${missing.join(", ")}`);
  // Bundles mirror the project's paths under --outdir: a file outside the project has none.
  const outside = entries.filter((file) => relative(root, resolve(root, file)).startsWith(".."));
  if (outside.length > 0) {
    throw new UsageError(
      `${outside.join(", ")} ${outside.length === 1 ? "is" : "are"} outside ${root}: run troupe build from a folder that contains ${outside.length === 1 ? "it" : "them"}`,
    );
  }
  const bun = projectProgram(root, "bun");
  const child = spawnProcess(bun, bundlerArgs(build, root, entries), { cwd: root });
  const status = await child.exited;
  if (status.code !== 0) {
    const why =
      status.code === -1
        ? `cannot run Bun's bundler (${bun}): install Bun, or add it to the project (npm install -D bun)`
        : `Bun's bundler failed (exit ${status.code ?? status.signal}):`;
    io.err(`troupe build: ${why}\n${child.output().trim()}`);
    return 1;
  }
  io.out(
    `bundled ${entries.length} actor${entries.length === 1 ? "" : "s"} for ${build.target} into ${build.outdir}/`,
  );
  for (const entry of entries) {
    const bundle = joinPath(
      build.outdir,
      relative(root, resolve(root, entry)).replace(/\.[cm]?[jt]sx?$/, ".js"),
    );
    io.out(`  ${build.target} ${bundle}`);
  }
  return 0;
}

export const buildCommand: CliCommand = {
  name: "build",
  summary: "bundle actor processes for deployment (faster start, less memory)",
  usage: buildUsage,
  async run(args) {
    const build = parseBuildArgs(args);
    if (build === "help") {
      processIo.out(buildUsage);
      return 0;
    }
    return runBuild(build, process.cwd());
  },
};
