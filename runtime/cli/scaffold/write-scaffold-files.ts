import { fileExists, joinPath, writeNewTextFile } from "../../platform/files.ts";
import type { ScaffoldFile } from "./actor-files.ts";

/** The files (paths relative to `root`) that already exist: a scaffold must not overwrite them. */
export function existingFiles(root: string, files: readonly ScaffoldFile[]): string[] {
  return files.filter((file) => fileExists(joinPath(root, ...file.path.split("/")))).map((f) => f.path);
}

/** Writes every file under `root`, creating folders; throws rather than overwrite one. */
export function writeScaffoldFiles(root: string, files: readonly ScaffoldFile[]): void {
  for (const file of files) writeNewTextFile(joinPath(root, ...file.path.split("/")), file.text);
}
