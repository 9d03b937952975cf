/**
 * A project's contracts, found rather than listed: every protoc-gen-es output file (`*_pb.ts`,
 * or `*_pb.js` when compiled) at any depth of one folder, imported, and every service they
 * export. The gateway fronts the public ones of these (runGateway without a list), and
 * `troupe dev` takes its printed examples from them, so a service added to the contracts is
 * served and shown without a line changed elsewhere.
 */
import type { DescService } from "@bufbuild/protobuf";
import { readEnv } from "../platform/env.ts";
import { currentDir, isDir, joinPath, listFilesDeep, resolvePath } from "../platform/files.ts";
import { importFile } from "../platform/import-file.ts";

/** TROUPE_CONTRACTS: the folder of generated contracts (`troupe dev` sets it from troupe.json). */
export const CONTRACTS_ENV = "TROUPE_CONTRACTS";

/** Where generated contracts are when nothing says otherwise (buf's `out` in this repository). */
export const DEFAULT_CONTRACTS_DIR = "proto/gen";

export interface LoadedContracts {
  /** The absolute folder. */
  readonly dir: string;
  /** The imported files, relative to `dir`. */
  readonly files: readonly string[];
  /** Every service of those files, in file order, then declaration order. */
  readonly services: readonly DescService[];
}

const CONTRACT_FILE = /_pb\.(ts|js)$/;

/** The contracts folder of TROUPE_CONTRACTS, else `proto/gen`, relative to the working directory. */
export function contractsDirFromEnv(): string {
  return resolvePath(currentDir(), readEnv(CONTRACTS_ENV) ?? DEFAULT_CONTRACTS_DIR);
}

/**
 * Imports every contract file under `dir`. Throws an Error naming the folder when it is missing
 * or holds no contract file, and naming the file when one cannot be imported.
 */
export async function loadContracts(dir: string): Promise<LoadedContracts> {
  if (!isDir(dir)) throw new Error(`the contracts folder ${dir} does not exist`);
  const all = listFilesDeep(dir).filter((file) => CONTRACT_FILE.test(file));
  // A compiled `x_pb.js` next to its `x_pb.ts` is the same contract: the source is taken.
  const files = all.filter((file) => !(file.endsWith(".js") && all.includes(`${file.slice(0, -3)}.ts`)));
  if (files.length === 0) throw new Error(`the contracts folder ${dir} holds no *_pb.ts or *_pb.js file`);
  const services = new Map<string, DescService>();
  for (const file of files) {
    let exports: Readonly<Record<string, unknown>>;
    try {
      exports = await importFile(joinPath(dir, file));
    } catch (err) {
      throw new Error(
        `cannot import the contract ${joinPath(dir, file)}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    for (const value of Object.values(exports)) {
      if (isService(value) && !services.has(value.typeName)) services.set(value.typeName, value);
    }
  }
  return { dir, files, services: [...services.values()] };
}

/** A protobuf-es service descriptor (`export const UserService: GenService<…>`). */
function isService(value: unknown): value is DescService {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { kind?: unknown }).kind === "service" &&
    typeof (value as { typeName?: unknown }).typeName === "string" &&
    Array.isArray((value as { methods?: unknown }).methods)
  );
}
