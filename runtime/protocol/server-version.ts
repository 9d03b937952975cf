/**
 * nats-server versions: Troupe targets servers that understand every stream and consumer field
 * it sets. Older servers ignore unknown fields silently, so callers compare the version the
 * server reports (INFO `version`) against what a feature needs and refuse with a clear error.
 */

/** The oldest nats-server Troupe supports. */
export const MIN_SERVER_VERSION = "2.11.0";

/** A parsed `major.minor.patch` version; pre-release and build suffixes are ignored. */
export interface ServerVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** Parses "2.12.1", "v2.12.1" or "2.12.1-RC.2"; undefined when the text holds no version. */
export function parseServerVersion(text: string): ServerVersion | undefined {
  const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (match === null) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/** True when `version` is `min` or newer. */
export function isAtLeast(version: ServerVersion, min: ServerVersion): boolean {
  if (version.major !== min.major) return version.major > min.major;
  if (version.minor !== min.minor) return version.minor > min.minor;
  return version.patch >= min.patch;
}

export function formatServerVersion(version: ServerVersion): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}
