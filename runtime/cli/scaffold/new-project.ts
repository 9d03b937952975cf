/**
 * The files of a new Troupe project (`troupe new`): package.json, the buf workspace, troupe.json,
 * tsconfig.json, a README, .gitignore, and the greeter actor with its contract and test. Pure
 * but for reading the templates, so a test can inspect a project without writing it.
 */
import { greeterFiles, type ScaffoldFile } from "./actor-files.ts";
import { defaultProjectLayout, PROJECT_CONFIG_FILE, projectConfigText } from "./project-layout.ts";
import { protoDirOf, protoPackageOf } from "./project-names.ts";
import { devDependencyVersions, readTemplate, renderTemplate, troupePackage } from "./troupe-package.ts";

export interface NewProjectOptions {
  /** A checked project name (project-names.ts): the npm package name and the proto package's root. */
  readonly name: string;
  /** What package.json's `troupe` dependency says: a version, or `file:<tarball or folder>`. */
  readonly troupeSpec: string;
}

/**
 * The packages a project imports itself, at the versions the `troupe` package depends on, so npm
 * installs one copy of each: the generated code imports @bufbuild/protobuf (and, for contracts
 * with request rules, @bufbuild/protovalidate), the actors and tests @connectrpc/connect.
 */
export const SHARED_DEPENDENCIES = [
  "@bufbuild/protobuf",
  "@bufbuild/protovalidate",
  "@connectrpc/connect",
] as const;

export function projectPackageJson(options: NewProjectOptions): Record<string, unknown> {
  const troupe = troupePackage();
  const dependencies: Record<string, string> = {};
  for (const name of SHARED_DEPENDENCIES) {
    const version = troupe.dependencies[name];
    if (version === undefined) throw new Error(`the troupe package does not depend on ${name}`);
    dependencies[name] = version;
  }
  dependencies.troupe = options.troupeSpec;
  return {
    name: options.name,
    version: "0.1.0",
    private: true,
    type: "module",
    engines: { node: ">=24" },
    scripts: {
      generate: "buf generate",
      start: "troupe dev",
      build: "troupe build",
      test: "bun test",
      "test:node": "node --test",
      "test:deno": "deno test -A",
      check: "tsc",
    },
    dependencies: sortKeys(dependencies),
    devDependencies: sortKeys({ ...devDependencyVersions() }),
    // buf's install script links its native binary in place of a Node launcher (faster runs).
    allowScripts: { "@bufbuild/buf": true },
  };
}

export function newProjectFiles(options: NewProjectOptions): ScaffoldFile[] {
  const layout = defaultProjectLayout;
  const protoPackage = protoPackageOf(options.name);
  const values = {
    projectName: options.name,
    protoPackage,
    protoDir: protoDirOf(protoPackage),
    contracts: layout.contracts,
  };
  const project = (template: string, path: string): ScaffoldFile => ({
    path,
    text: renderTemplate(readTemplate(`project/${template}.tmpl`), values),
  });
  return [
    { path: "package.json", text: `${JSON.stringify(projectPackageJson(options), null, 2)}\n` },
    { path: PROJECT_CONFIG_FILE, text: projectConfigText(layout) },
    project("buf.yaml", "buf.yaml"),
    project("buf.gen.yaml", "buf.gen.yaml"),
    project("tsconfig.json", "tsconfig.json"),
    project("README.md", "README.md"),
    // npm never packs a file named .gitignore, so the template has another name.
    project("gitignore", ".gitignore"),
    ...greeterFiles(protoPackage, layout),
  ];
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
