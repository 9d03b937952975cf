/**
 * Where a project keeps its parts, as its `troupe.json` says (`troupe new` writes it; `troupe dev`
 * reads it too): `{ "actors": "actors", "contracts": "gen" }`, folders relative to the project.
 * The contracts' .proto files are in `proto/` (buf.yaml's module). Only what `troupe add actor`
 * needs is read here.
 */
import { joinPath, readTextFile } from "../../platform/files.ts";
import { PROJECT_CONFIG_FILE, readProjectConfig } from "../project-config.ts";

export { PROJECT_CONFIG_FILE };

/** The folder of the contracts' .proto files (the project's buf module). */
export const PROTO_DIR = "proto";

export interface ProjectLayout {
  /** Where the actors are: one `<name>/main.ts` per actor. */
  readonly actors: string;
  /** Where buf writes the generated `_pb.ts` files (buf.gen.yaml's `out`). */
  readonly contracts: string;
}

export const defaultProjectLayout: ProjectLayout = { actors: "actors", contracts: "gen" };

/** The `troupe.json` of a new project (no gateway: it has none yet). */
export function projectConfigText(layout: ProjectLayout = defaultProjectLayout): string {
  return `${JSON.stringify({ actors: layout.actors, contracts: layout.contracts }, null, 2)}\n`;
}

/**
 * The layout of the project at `root`, or undefined when it has no troupe.json. Throws on a bad
 * one, with the message of the one reader of troupe.json that `troupe dev` uses too.
 */
export function readProjectLayout(root: string): ProjectLayout | undefined {
  if (readTextFile(joinPath(root, PROJECT_CONFIG_FILE)) === undefined) return undefined;
  const { actors, contracts } = readProjectConfig(root);
  return { actors, contracts };
}
