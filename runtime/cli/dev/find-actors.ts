import { fileExists, joinPath, listDir } from "../../platform/files.ts";

/** One actor `troupe dev` runs: `<actorsDir>/<name>/main.ts`. */
export interface ActorEntry {
  /** The folder name, which is also the actor's discovery name (its `defineActor` name). */
  readonly name: string;
  /** The absolute path of its main.ts. */
  readonly file: string;
}

/** The folder of the HTTP edge: started last, once what it fronts is discoverable. */
export const GATEWAY_ACTOR = "gateway";

/**
 * Every folder of `actorsDir` that has a `main.ts`, in name order, the gateway last. Nothing is
 * listed by hand: an actor added to the folder is started by the next `troupe dev`.
 */
export function findActors(actorsDir: string): ActorEntry[] {
  return listDir(actorsDir)
    .filter((name) => !name.startsWith(".") && fileExists(joinPath(actorsDir, name, "main.ts")))
    .sort((a, b) => Number(a === GATEWAY_ACTOR) - Number(b === GATEWAY_ACTOR) || a.localeCompare(b))
    .map((name) => ({ name, file: joinPath(actorsDir, name, "main.ts") }));
}
