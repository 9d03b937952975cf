/** The file system operations the harness and the CLI need, over `node:fs` (Bun, Deno, Node). */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

export { join as joinPath, relative as relativePath, resolve as resolvePath };

/** Creates a fresh directory under the system temp folder whose name starts with `prefix`. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function tempRoot(): string {
  return tmpdir();
}

/** Removes a directory tree; synchronous so that exit hooks can use it. */
export function removeDir(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

export function writeTextFile(path: string, text: string): void {
  writeFileSync(path, text);
}

/** Creates a directory and its missing parents; an existing one is fine. */
export function makeDir(path: string): void {
  mkdirSync(path, { recursive: true });
}

/**
 * Writes a file through a temporary sibling and a rename, so a reader never sees half of it.
 * `mode` sets the permissions of a new file (0o600 for keys).
 */
export function writeFileAtomically(path: string, content: string | Uint8Array, mode = 0o644): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode });
  renameSync(temp, path);
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
}

export function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

export function currentDir(): string {
  return process.cwd();
}
