import { fileExists, joinPath, listDir } from "../../platform/files.ts";
import { projectProgram } from "../project-program.ts";
import type { ActorRuntime } from "./dev-options.ts";

/** One actor `troupe dev` runs: `<actorsDir>/<name>/main.ts`. */
export interface ActorEntry {
  /**
   * The folder name, which must also be the actor's `defineActor` name (its discovery name):
   * `troupe dev` passes it as TROUPE_ACTOR_NAME and runActor refuses to start under another.
   */
  readonly name: string;
  /** The absolute path of its main.ts. */
  readonly file: string;
}

/**
 * Every folder of `actorsDir` that has a `main.ts`, in name order, the gateway's folder
 * (`gateway`, troupe.json `gateway.actor`) last. Nothing is listed by hand: an actor added to
 * the folder is started by the next `troupe dev`.
 */
export function findActors(actorsDir: string, gateway: string): ActorEntry[] {
  return listDir(actorsDir)
    .filter((name) => !name.startsWith(".") && fileExists(joinPath(actorsDir, name, "main.ts")))
    .sort((a, b) => Number(a === gateway) - Number(b === gateway) || a.localeCompare(b))
    .map((name) => ({ name, file: joinPath(actorsDir, name, "main.ts") }));
}

/** `bun run <file>` (or deno/node), with the project's own runtime binary when it has one. */
export function actorCommand(
  runtime: ActorRuntime,
  root: string,
  file: string,
): { command: string; args: string[] } {
  const command = projectProgram(root, runtime);
  switch (runtime) {
    case "bun":
      return { command, args: ["run", file] };
    case "deno":
      return { command, args: ["run", "-A", file] };
    case "node":
      return { command, args: [file] };
  }
}
