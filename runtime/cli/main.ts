#!/usr/bin/env bun
/**
 * The `troupe` command (package.json `bin`): `bun run runtime/cli/main.ts <command>`, or
 * `npm run troupe -- <command>`; `npm start` is `troupe dev`. Also runs on Deno and Node.
 */
import { exitProcess } from "../platform/shutdown-signals.ts";
import { runCli } from "./run-cli.ts";

exitProcess(await runCli(process.argv.slice(2)));
