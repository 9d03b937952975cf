/**
 * Loads a JavaScript or TypeScript module from a file path at run time (the project's generated
 * contracts, found by listing a folder). `import()` takes a URL, and a file path becomes one
 * through `node:url`, which Bun, Deno and Node all provide.
 */
import { pathToFileURL } from "node:url";

/** The module's exports; rejects as `import()` does (missing file, syntax error, failed import). */
export async function importFile(path: string): Promise<Readonly<Record<string, unknown>>> {
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}
