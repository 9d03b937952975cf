/**
 * `troupe new <dir>`: a new project outside this repository (runtime/cli/scaffold/new-project.ts
 * says what it holds). It installs and generates nothing: it prints the commands that do.
 */
import {
  baseName,
  currentDir,
  fileExists,
  isDirectory,
  listDir,
  relativePath,
  resolvePath,
} from "../../platform/files.ts";
import { type CliCommand, parseFlags, UsageError } from "../command.ts";
import { newProjectFiles } from "../scaffold/new-project.ts";
import { checkName, NAME_PATTERN, protoDirOf, protoPackageOf } from "../scaffold/project-names.ts";
import { troupePackage } from "../scaffold/troupe-package.ts";
import { writeScaffoldFiles } from "../scaffold/write-scaffold-files.ts";

export const newUsage = `Usage: troupe new <dir> [options]

Creates a Troupe project in <dir> (a new or empty folder): package.json (scripts generate, start,
test, check), the buf workspace (buf.yaml, buf.gen.yaml) over proto/ and the contracts the troupe
package ships, troupe.json, tsconfig.json, a README, .gitignore, and one actor, greeter: its
contract proto/<project>/v1/greeter.proto, actors/greeter/actor.ts and main.ts, and a test on a
real nats-server. Installs nothing; prints the next commands.

Options:
  --name <name>     the project's name (default: the folder's name): lower-case kebab; its
                    contracts' proto package is <name with _ for ->.v1
  --troupe <spec>   the troupe dependency: a version (default: this troupe's), or the path of a
                    packed tarball or a folder, written as file:<path relative to the project>
  -h, --help        this help
`;

export interface NewArgs {
  /** The project folder, as given. */
  readonly dir: string;
  readonly name: string;
  /** package.json's `troupe` dependency. */
  readonly troupeSpec: string;
}

const FLAGS = {
  name: { type: "string" },
  troupe: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** What the environment adds to the arguments, passed in so that parsing stays a pure function. */
export interface NewEnvironment {
  readonly cwd: string;
  readonly troupeVersion: string;
}

export function parseNewArgs(args: readonly string[], env: NewEnvironment): NewArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  const [dir, ...extra] = positionals;
  if (dir === undefined) throw new UsageError("the project's folder is missing");
  if (extra.length > 0) throw new UsageError(`one folder only, got ${positionals.join(" ")}`);
  const root = resolvePath(env.cwd, dir);
  const name = values.name ?? baseName(root);
  if (values.name === undefined && !NAME_PATTERN.test(name)) {
    throw new UsageError(
      `the folder's name "${name}" is not a project name (lower-case kebab); pass --name <name>`,
    );
  }
  return {
    dir,
    name: checkName("project", name),
    troupeSpec: troupeSpec(values.troupe, env.cwd, root, env.troupeVersion),
  };
}

/**
 * A version or tag stays as it is; a path (a tarball from `npm pack`, a folder) becomes
 * `file:` and relative to the project, as npm reads it from the project's package.json.
 */
export function troupeSpec(given: string | undefined, cwd: string, root: string, version: string): string {
  if (given === undefined) return version;
  if (given === "") throw new UsageError("--troupe must not be empty");
  const isPath = /^(\.{1,2}\/|\/)/.test(given) || given.endsWith(".tgz");
  if (!isPath) return given;
  const target = relativePath(root, resolvePath(cwd, given)).replaceAll("\\", "/");
  return `file:${target}`;
}

/** The lines printed once the project is written. */
export function newProjectNextSteps(dir: string, name: string): string[] {
  const protoDir = protoDirOf(protoPackageOf(name));
  return [
    `Created ${name} in ${dir}: the greeter actor (actors/greeter), its contract`,
    `(proto/${protoDir}/greeter.proto) and its test. Next:`,
    "",
    `  cd ${dir}`,
    "  npm install",
    "  npm run generate   # buf generate: proto/ -> gen/",
    "  npm test           # bun test, on a nats-server >= 2.11 it starts (see README.md)",
    "  npm start          # troupe dev: a nats-server and every actor",
    "",
    "  npx troupe add actor <name>   # one more actor",
  ];
}

export const newCommand: CliCommand = {
  name: "new",
  summary: "create a Troupe project: contracts, an actor, its test, the buf setup",
  usage: newUsage,
  async run(args) {
    const cwd = currentDir();
    const parsed = parseNewArgs(args, { cwd, troupeVersion: troupePackage().version });
    if (parsed === "help") {
      console.log(newUsage);
      return 0;
    }
    const root = resolvePath(cwd, parsed.dir);
    if (fileExists(root) && !isDirectory(root)) {
      console.error(`troupe new: ${parsed.dir} is a file, not a folder`);
      return 1;
    }
    if (listDir(root).length > 0) {
      console.error(`troupe new: ${parsed.dir} is not empty; choose a new or empty folder`);
      return 1;
    }
    writeScaffoldFiles(root, newProjectFiles({ name: parsed.name, troupeSpec: parsed.troupeSpec }));
    for (const line of newProjectNextSteps(parsed.dir, parsed.name)) console.log(line);
    return 0;
  },
};
