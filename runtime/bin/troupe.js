#!/usr/bin/env node
// The `troupe` command. Installed from the registry it runs the built JavaScript (dist/), which
// any Node >= 24, Bun or Deno loads; inside the Troupe repository, where nothing is built, it runs
// the TypeScript sources (Node strips their types, since they are not under node_modules).
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [major] = (process.versions.node ?? "0").split(".").map(Number);
if (process.versions.bun === undefined && process.versions.deno === undefined && major < 24) {
  console.error(
    `troupe: Node ${process.versions.node} is too old; it needs Node >= 24 (package.json "engines"), or run it with Bun: bunx troupe …`,
  );
  process.exit(1);
}
const installed = realpathSync(fileURLToPath(import.meta.url)).includes("/node_modules/");
if (!installed) {
  // The repository's actors import `troupe` by name; its `troupe-source` export condition makes
  // that the sources for the actor processes `troupe dev` starts on Node or Deno (Bun takes them
  // by its own `bun` condition).
  if (!process.env.NODE_OPTIONS?.includes("--conditions=troupe-source")) {
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --conditions=troupe-source`.trim();
  }
  process.env.DENO_CONDITIONS ??= "troupe-source";
  // This process resolves `troupe` as well: `troupe dev` imports the project's contracts, which
  // import `troupe/gen/…`. NODE_OPTIONS is read only at start, so on Node a resolve hook adds the
  // condition (Bun has its own; Deno reads DENO_CONDITIONS at start only).
  const { registerHooks } = await import("node:module");
  if (typeof registerHooks === "function" && !process.versions.bun && !process.versions.deno) {
    registerHooks({
      resolve: (specifier, context, nextResolve) =>
        nextResolve(specifier, { ...context, conditions: [...context.conditions, "troupe-source"] }),
    });
  }
}
await import(installed ? "../dist/cli/main.js" : "../cli/main.ts");
