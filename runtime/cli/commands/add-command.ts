/**
 * `troupe add actor <name>`: one more actor in an existing project (one with a troupe.json): its
 * contract `proto/<package dir>/<name>.proto` (a service with one method) and its folder
 * `<actors>/<name>/` (actor.ts, main.ts). Nothing existing is overwritten.
 */
import { currentDir, fileExists, joinPath, resolvePath } from "../../platform/files.ts";
import { type CliCommand, parseFlags, UsageError } from "../command.ts";
import { type ActorFilesInit, actorDir, actorFiles, contractPath } from "../scaffold/actor-files.ts";
import { findProtoPackages } from "../scaffold/find-proto-packages.ts";
import { PROJECT_CONFIG_FILE, PROTO_DIR, readProjectLayout } from "../scaffold/project-layout.ts";
import { checkName, checkProtoPackage } from "../scaffold/project-names.ts";
import { existingFiles, writeScaffoldFiles } from "../scaffold/write-scaffold-files.ts";

export const addUsage = `Usage: troupe add actor <name> [options]

Adds an actor to the project in the current folder (the one with troupe.json): its contract
proto/<package dir>/<name>.proto, with a service <Name>Service of one method, and the folder
actors/<name>/ with actor.ts (defineActor({ name: "<name>" }) serving it) and main.ts (runActor).
<name> is lower-case kebab (order-history → order_history.proto, OrderHistoryService). Run
\`npm run generate\` afterwards.

Options:
  --package <pkg>   the proto package of the contract, e.g. shop.v1 (default: the one package
                    of the .proto files in proto/)
  --dir <dir>       the project's folder (default: the current folder)
  -h, --help        this help
`;

export interface AddActorArgs {
  readonly actorName: string;
  readonly protoPackage: string | undefined;
  readonly dir: string;
}

export function parseAddArgs(args: readonly string[]): AddActorArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  const [what, name, ...extra] = positionals;
  if (what !== "actor") throw new UsageError(`what to add is missing or unknown: "${what ?? ""}" (actor)`);
  if (name === undefined) throw new UsageError("the actor's name is missing");
  if (extra.length > 0) throw new UsageError(`one actor at a time, got ${[name, ...extra].join(" ")}`);
  return {
    actorName: checkName("actor", name),
    protoPackage: values.package === undefined ? undefined : checkProtoPackage(values.package),
    dir: values.dir ?? ".",
  };
}

/** The proto package for the new contract: the given one, else the project's only one. */
export function chooseProtoPackage(given: string | undefined, found: readonly string[]): string {
  if (given !== undefined) return given;
  const [only, ...others] = found;
  if (only === undefined) {
    throw new UsageError(`no contracts in ${PROTO_DIR}/ to take the proto package from; pass --package`);
  }
  if (others.length > 0) {
    throw new UsageError(`the contracts use several proto packages (${found.join(", ")}); pass --package`);
  }
  return checkProtoPackage(only);
}

export const addCommand: CliCommand = {
  name: "add",
  summary: "add an actor to a project: its contract and its folder",
  usage: addUsage,
  async run(args) {
    const parsed = parseAddArgs(args);
    if (parsed === "help") {
      console.log(addUsage);
      return 0;
    }
    const root = resolvePath(currentDir(), parsed.dir);
    let layout: ReturnType<typeof readProjectLayout>;
    try {
      layout = readProjectLayout(root);
    } catch (err) {
      console.error(`troupe add: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
    if (layout === undefined) {
      console.error(
        `troupe add: no ${PROJECT_CONFIG_FILE} in ${root}: not a Troupe project (troupe new makes one)`,
      );
      return 1;
    }
    const protoPackage = chooseProtoPackage(
      parsed.protoPackage,
      findProtoPackages(joinPath(root, PROTO_DIR)),
    );
    const init: ActorFilesInit = { actorName: parsed.actorName, protoPackage, layout };
    if (fileExists(joinPath(root, ...actorDir(init).split("/")))) {
      console.error(`troupe add: ${actorDir(init)} exists already`);
      return 1;
    }
    const files = actorFiles(init);
    const existing = existingFiles(root, files);
    if (existing.length > 0) {
      console.error(`troupe add: ${existing.join(", ")} exists already`);
      return 1;
    }
    writeScaffoldFiles(root, files);
    for (const file of files) console.log(`created ${file.path}`);
    console.log(
      [
        "",
        "Next:",
        `  npm run generate                       # ${contractPath(init)} -> ${layout.contracts}/`,
        `  bun run ${actorDir(init)}/main.ts   # NATS_URL names the server`,
      ].join("\n"),
    );
    return 0;
  },
};
const FLAGS = {
  package: { type: "string" },
  dir: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;
