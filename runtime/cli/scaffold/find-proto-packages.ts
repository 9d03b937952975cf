import { isDirectory, joinPath, listDir } from "../../platform/files.ts";
import { PROTO_PACKAGE_PATTERN } from "./project-names.ts";

/**
 * The versioned proto packages of a project's contracts: every folder under `protoDir` that
 * holds a .proto file and whose path reads as a package (`shop/v1` → `shop.v1`), in name order.
 */
export function findProtoPackages(protoDir: string): string[] {
  const packages = new Set<string>();
  const visit = (dir: string, parts: readonly string[]) => {
    for (const name of listDir(dir)) {
      if (name.startsWith(".") || name === "node_modules") continue;
      const path = joinPath(dir, name);
      if (isDirectory(path)) visit(path, [...parts, name]);
      else if (name.endsWith(".proto") && PROTO_PACKAGE_PATTERN.test(parts.join("."))) {
        packages.add(parts.join("."));
      }
    }
  };
  visit(protoDir, []);
  return [...packages].sort();
}
