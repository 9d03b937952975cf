/**
 * The `troupe` package this CLI runs from: its folder, version and dependencies, and the
 * templates it ships (runtime/cli/templates/, package.json `files`). The folder is found by
 * walking up from this module to the package.json named `troupe`, so the same code finds it when
 * it runs from the sources (runtime/cli/scaffold/) and from the build (dist/cli/scaffold/).
 */
import { joinPath, parentDir, pathOfFileUrl, readTextFile } from "../../platform/files.ts";

export interface TroupePackage {
  /** The package's folder: runtime/ in this repository, node_modules/troupe installed. */
  readonly root: string;
  readonly version: string;
  /** Its `dependencies`: the exact versions a project shares with it (@bufbuild/protobuf, …). */
  readonly dependencies: Readonly<Record<string, string>>;
}

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly dependencies?: Record<string, string>;
}

let found: TroupePackage | undefined;

export function troupePackage(): TroupePackage {
  found ??= findTroupePackage(parentDir(pathOfFileUrl(import.meta.url)));
  return found;
}

function findTroupePackage(start: string): TroupePackage {
  for (let dir = start; ; dir = parentDir(dir)) {
    const text = readTextFile(joinPath(dir, "package.json"));
    const json = text === undefined ? undefined : (JSON.parse(text) as PackageJson);
    if (json?.name === "troupe" && json.version !== undefined) {
      return { root: dir, version: json.version, dependencies: json.dependencies ?? {} };
    }
    if (parentDir(dir) === dir) throw new Error(`no package.json of troupe above ${start}`);
  }
}

/** The text of a template (a path under cli/templates/); throws when the package lacks it. */
export function readTemplate(name: string): string {
  const path = joinPath(troupePackage().root, "cli", "templates", name);
  const text = readTextFile(path);
  if (text === undefined) throw new Error(`the troupe package has no template ${path}`);
  return text;
}

/**
 * The versions of the tools a new project's devDependencies pin (buf, protoc-gen-es,
 * TypeScript): the ones this repository builds with, kept in cli/templates/dev-dependencies.json
 * (a test compares it with the repository's package.json).
 */
export function devDependencyVersions(): Readonly<Record<string, string>> {
  return JSON.parse(readTemplate("dev-dependencies.json")) as Record<string, string>;
}

/**
 * `text` with every `{{key}}` replaced by `values[key]`. Throws on a placeholder without a
 * value, so a template and its caller cannot drift apart silently.
 */
export function renderTemplate(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (placeholder, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`template placeholder ${placeholder} has no value`);
    return value;
  });
}
