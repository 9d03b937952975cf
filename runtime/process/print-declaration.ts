/**
 * The declaration mode of a Troupe process: with TROUPE_PRINT_DECLARATION=1, `runActor` and
 * `runGateway` print what the process declares it does on the bus (one JSON line,
 * runtime/protocol/declaration.ts) and exit 0 without connecting. `troupe auth generate` runs
 * every actor's main file so, in the runtime it runs on, to derive its credentials: nothing but
 * the actor's own code says what it does.
 */
import { readEnv } from "../platform/env.ts";
import { exitProcess } from "../platform/shutdown-signals.ts";
import { PRINT_DECLARATION_ENV, type ProcessDeclaration } from "../protocol/declaration.ts";

/** True when the process was started to print its declaration. */
export function declarationRequested(): boolean {
  return readEnv(PRINT_DECLARATION_ENV) === "1";
}

/** Prints `declaration` as one JSON line and exits 0. */
export function printDeclarationAndExit(declaration: ProcessDeclaration): never {
  console.log(JSON.stringify(declaration));
  return exitProcess(0);
}
