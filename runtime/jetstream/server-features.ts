/**
 * Which nats-server a stream or consumer field needs. A server that predates a field ignores it
 * silently (docs/design.md, "The server is new enough, or we say so"), so a declaration that uses one
 * on an older server is refused, naming the version, before anything is sent.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  formatServerVersion,
  isAtLeast,
  parseServerVersion,
  type ServerVersion,
} from "../protocol/server-version.ts";

/** A configuration field and the oldest server that honours it. */
export interface ServerFeature {
  /** The JetStream API field, as the JSON config spells it. */
  readonly field: string;
  readonly what: string;
  readonly since: string;
}

/** Stream fields newer than 2.10 (the server notes and ADRs of each release). */
export const STREAM_FEATURES: readonly ServerFeature[] = [
  { field: "allow_msg_ttl", what: "per-message TTL (ADR-43)", since: "2.11.0" },
  { field: "subject_delete_marker_ttl", what: "subject delete markers (ADR-43)", since: "2.11.0" },
  { field: "allow_msg_counter", what: "counters (ADR-49)", since: "2.12.0" },
  { field: "allow_atomic", what: "atomic batch publish (ADR-50)", since: "2.12.0" },
  { field: "allow_msg_schedules", what: "message schedules (ADR-51)", since: "2.12.0" },
  { field: "persist_mode", what: "asynchronous persistence", since: "2.12.0" },
];

/** Consumer fields newer than 2.10. */
export const CONSUMER_FEATURES: readonly ServerFeature[] = [
  { field: "priority_groups", what: "priority groups (ADR-42)", since: "2.11.0" },
  { field: "priority_policy", what: "priority groups (ADR-42)", since: "2.11.0" },
  { field: "pause_until", what: "paused consumers", since: "2.11.0" },
];

/**
 * Throws `failed_precondition` when `config` uses a field of `features` that `server` predates.
 * A field counts as used when it is set to something other than its zero value.
 */
export function assertServerSupports(
  features: readonly ServerFeature[],
  what: string,
  config: object,
  server: ServerVersion | string,
): void {
  const version = typeof server === "string" ? parseServerVersion(server) : server;
  if (version === undefined) {
    throw new ConnectError(
      `cannot tell the nats-server version from "${String(server)}"`,
      Code.FailedPrecondition,
    );
  }
  const values = config as Record<string, unknown>;
  for (const feature of features) {
    if (!isUsed(values[feature.field])) continue;
    const since = parseServerVersion(feature.since);
    if (since !== undefined && !isAtLeast(version, since)) {
      throw new ConnectError(
        `${what} uses ${feature.field} (${feature.what}), which needs nats-server ${feature.since} or newer; ` +
          `the server is ${formatServerVersion(version)}`,
        Code.FailedPrecondition,
      );
    }
  }
}

function isUsed(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === "") return false;
  if (value === "default") return false; // persist_mode's zero value
  if (Array.isArray(value)) return value.length > 0;
  return true;
}
