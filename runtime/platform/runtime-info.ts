/** Which JavaScript runtime this is, for discovery metadata and logs. */
import { hostname } from "node:os";

export interface RuntimeInfo {
  /** "bun", "deno" or "node" */
  readonly name: string;
  readonly version: string;
}

export function runtimeInfo(): RuntimeInfo {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun !== undefined) return { name: "bun", version: versions.bun };
  if (versions.deno !== undefined) return { name: "deno", version: versions.deno };
  return { name: "node", version: versions.node ?? "unknown" };
}

export function hostName(): string {
  return hostname();
}
