/**
 * The names `troupe new` and `troupe add actor` accept, and the proto and TypeScript names
 * derived from them. A name is lower-case kebab (`order-history`): it is a folder, an npm package
 * name, an actor's discovery name and queue group, and it maps one-to-one onto a proto file
 * (`order_history.proto`, buf's FILE_LOWER_SNAKE_CASE), a service (`OrderHistoryService`) and a
 * TypeScript identifier (`orderHistory`).
 */
import { UsageError } from "../command.ts";

/** Lower-case words of letters and digits joined by single dashes, starting with a letter. */
export const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** `shop.v1`, `acme.billing.v2`: lower-snake parts, the last one a version (buf's PACKAGE_VERSION_SUFFIX). */
export const PROTO_PACKAGE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.v[1-9][0-9]*$/;

/** Proto package roots the `troupe` package's own contracts use: a project's would clash. */
const RESERVED_PACKAGE_ROOTS = new Set(["troupe", "google"]);

/**
 * `gateway` is the folder `troupe dev` starts last as the HTTP edge (runGateway, not runActor);
 * a skeleton actor there would be started as one.
 */
const RESERVED_ACTOR_NAMES = new Set(["gateway"]);

/** Throws a UsageError unless `name` is a valid project or actor name. */
export function checkName(what: "project" | "actor", name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(
      `${what} name "${name}" must be lower-case kebab: letters and digits in words joined by ` +
        `single dashes, starting with a letter (e.g. "order-history")`,
    );
  }
  if (what === "actor" && RESERVED_ACTOR_NAMES.has(name)) {
    throw new UsageError(`"${name}" is the folder troupe dev runs as the HTTP gateway; choose another name`);
  }
  return name;
}

/** `order-history` → `order_history` */
export function snakeCase(name: string): string {
  return name.replaceAll("-", "_");
}

/** `order-history` → `orderHistory` */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `order-history` → `OrderHistory` */
export function pascalCase(name: string): string {
  const camel = camelCase(name);
  return camel.charAt(0).toUpperCase() + camel.slice(1);
}

/** The proto package of a new project's contracts: `my-shop` → `my_shop.v1`. */
export function protoPackageOf(projectName: string): string {
  return checkProtoPackage(`${snakeCase(projectName)}.v1`);
}

/** Throws a UsageError unless `protoPackage` is a versioned package a project may use. */
export function checkProtoPackage(protoPackage: string): string {
  if (!PROTO_PACKAGE_PATTERN.test(protoPackage)) {
    throw new UsageError(
      `proto package "${protoPackage}" must be lower-snake parts ending in a version, e.g. "shop.v1"`,
    );
  }
  const root = protoPackage.split(".")[0] ?? "";
  if (RESERVED_PACKAGE_ROOTS.has(root)) {
    throw new UsageError(
      `proto package "${protoPackage}" would clash with the ${root}/ contracts the troupe package ` +
        "ships; choose another project name (or --package)",
    );
  }
  return protoPackage;
}

/** The folder of a proto package under proto/: `shop.v1` → `shop/v1` (buf's PACKAGE_DIRECTORY_MATCH). */
export function protoDirOf(protoPackage: string): string {
  return protoPackage.replaceAll(".", "/");
}
