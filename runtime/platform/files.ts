/** The file system operations the harness and the CLI need, over `node:fs` (Bun, Deno, Node). */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export { join as joinPath };

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
