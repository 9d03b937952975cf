/**
 * The files of one actor: its contract (`proto/<package dir>/<name>.proto`) and its folder
 * (`<actors>/<name>/actor.ts`, `main.ts`), from the templates in cli/templates/. `troupe add
 * actor` writes the skeleton (`actor/`: a service with one method); `troupe new` writes the
 * greeter (`greeter/`: a method that publishes an event, and its test). In both, the actor's
 * `defineActor({ name })` is the folder's name.
 */
import { relativePath } from "../../platform/files.ts";
import type { ProjectLayout } from "./project-layout.ts";
import { PROTO_DIR } from "./project-layout.ts";
import { camelCase, pascalCase, protoDirOf, snakeCase } from "./project-names.ts";
import { readTemplate, renderTemplate } from "./troupe-package.ts";

/** One file to write: a `/`-separated path relative to the project root, and its text. */
export interface ScaffoldFile {
  readonly path: string;
  readonly text: string;
}

export interface ActorFilesInit {
  /** A checked name (project-names.ts): the folder, the discovery name, the proto file's stem. */
  readonly actorName: string;
  /** The contract's proto package, e.g. `shop.v1`. */
  readonly protoPackage: string;
  readonly layout: ProjectLayout;
}

/** Where an actor's contract goes: `proto/shop/v1/order_history.proto`. */
export function contractPath(init: ActorFilesInit): string {
  return `${PROTO_DIR}/${protoDirOf(init.protoPackage)}/${snakeCase(init.actorName)}.proto`;
}

/** Where an actor's folder goes: `actors/order-history`. */
export function actorDir(init: ActorFilesInit): string {
  return `${init.layout.actors}/${init.actorName}`;
}

/** The skeleton `troupe add actor <name>` writes. */
export function actorFiles(init: ActorFilesInit): ScaffoldFile[] {
  return render("actor", init, [
    ["service.proto", contractPath(init)],
    ["actor.ts", `${actorDir(init)}/actor.ts`],
    ["main.ts", `${actorDir(init)}/main.ts`],
  ]);
}

/** The example actor `troupe new` writes: `greeter`, with its test. */
export function greeterFiles(protoPackage: string, layout: ProjectLayout): ScaffoldFile[] {
  const init: ActorFilesInit = { actorName: "greeter", protoPackage, layout };
  return render("greeter", init, [
    ["greeter.proto", contractPath(init)],
    ["actor.ts", `${actorDir(init)}/actor.ts`],
    ["main.ts", `${actorDir(init)}/main.ts`],
    ["actor.test.ts", `${actorDir(init)}/actor.test.ts`],
  ]);
}

/** The values of an actor's templates' `{{placeholders}}`. */
export function actorTemplateValues(init: ActorFilesInit): Record<string, string> {
  const snake = snakeCase(init.actorName);
  const protoDir = protoDirOf(init.protoPackage);
  // The generated module of the contract, as the actor's folder imports it.
  const generated = `${init.layout.contracts}/${protoDir}/${snake}_pb.ts`;
  const fromActor = relativePath(actorDir(init), generated).replaceAll("\\", "/");
  return {
    actorName: init.actorName,
    actorSnake: snake,
    actorCamel: camelCase(init.actorName),
    Actor: pascalCase(init.actorName),
    protoPackage: init.protoPackage,
    protoDir,
    genImport: fromActor.startsWith(".") ? fromActor : `./${fromActor}`,
  };
}

function render(
  templateDir: string,
  init: ActorFilesInit,
  files: readonly (readonly [template: string, path: string])[],
): ScaffoldFile[] {
  const values = actorTemplateValues(init);
  return files.map(([template, path]) => ({
    path,
    text: renderTemplate(readTemplate(`${templateDir}/${template}.tmpl`), values),
  }));
}
