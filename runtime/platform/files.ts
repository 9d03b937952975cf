/** The file system operations the harness and the CLI need, over `node:fs` (Bun, Deno, Node). */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export {
  basename as baseName,
  dirname as parentDir,
  fileURLToPath as pathOfFileUrl,
  join as joinPath,
  relative as relativePath,
  resolve as resolvePath,
};

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

/**
 * Writes a new file, creating its missing parent directories; throws (EEXIST) rather than
 * overwrite an existing one, so a scaffolding command never clobbers a user's file.
 */
export function writeNewTextFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { flag: "wx" });
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

export function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** True when `path` is a directory (false when it is missing or a file). */
export function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Every file under `dir`, at any depth, as paths relative to it (with `/`), sorted; hidden
 * entries (a leading dot) and `node_modules` are skipped. Missing `dir`: no files.
 */
export function listFilesDeep(dir: string): string[] {
  const found: string[] = [];
  const walk = (relative: string) => {
    for (const name of listDir(join(dir, relative))) {
      if (name.startsWith(".") || name === "node_modules") continue;
      const path = relative === "" ? name : `${relative}/${name}`;
      if (isDir(join(dir, path))) walk(path);
      else found.push(path);
    }
  };
  walk("");
  return found.sort();
}

export function currentDir(): string {
  return process.cwd();
}
