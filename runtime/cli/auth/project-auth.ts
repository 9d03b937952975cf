/**
 * The credentials of a project's processes: every actor folder's main file (and the gateway's)
 * prints its declaration, and the auth folder gets one user per process
 * (docs/adr/0030-credentials-from-declarations.md). `troupe auth generate` and `troupe dev` share it.
 */
import { resolvePath } from "../../platform/files.ts";
import { CONTRACTS_ENV } from "../../process/load-contracts.ts";
import type { ProcessDeclaration } from "../../protocol/declaration.ts";
import type { ActorRuntime } from "../dev/dev-options.ts";
import { type ActorEntry, findActors } from "../dev/find-actors.ts";
import type { ProjectConfig } from "../project-config.ts";
import { type AuthFolder, type AuthFolderOptions, writeAuthFolder } from "./auth-folder.ts";
import { collectDeclarations } from "./collect-declarations.ts";

export interface ProjectAuth {
  readonly folder: AuthFolder;
  readonly declarations: readonly ProcessDeclaration[];
}

/**
 * Reissues the user of one process from its declaration as it is now (`troupe dev --watch`, after
 * a change of its files): on its own key, so nothing else changes.
 */
export async function refreshProcessAuth(
  root: string,
  config: ProjectConfig,
  dir: string,
  entry: ActorEntry,
  runtime: ActorRuntime,
): Promise<ProcessDeclaration> {
  const [declaration] = await collectDeclarations([entry], {
    root,
    runtime,
    env: { [CONTRACTS_ENV]: resolvePath(root, config.contracts) },
    gateway: entry.name === config.gateway.actor ? entry.name : undefined,
    timeoutMs: 60_000,
  });
  if (declaration === undefined) throw new Error(`${entry.file} printed no declaration`);
  await writeAuthFolder(dir, [declaration]);
  return declaration;
}

/** Collects the declarations of the project at `root` and writes their credentials into `dir`. */
export async function generateProjectAuth(
  root: string,
  config: ProjectConfig,
  dir: string,
  options: { readonly runtime: ActorRuntime; readonly actorsDir?: string } & Partial<AuthFolderOptions>,
): Promise<ProjectAuth> {
  const actors = findActors(resolvePath(root, options.actorsDir ?? config.actors), config.gateway.actor);
  const declarations = await collectDeclarations(actors, {
    root,
    runtime: options.runtime,
    env: { [CONTRACTS_ENV]: resolvePath(root, config.contracts) },
    gateway: actors.some((a) => a.name === config.gateway.actor) ? config.gateway.actor : undefined,
    timeoutMs: 60_000,
  });
  const folder = await writeAuthFolder(dir, declarations, options);
  return { folder, declarations };
}
