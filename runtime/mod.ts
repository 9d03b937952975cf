/**
 * Troupe's public entry point. The runtime grows here issue by issue; for now it exposes the
 * server-version rules every feature check builds on.
 */
export {
  formatServerVersion,
  isAtLeast,
  MIN_SERVER_VERSION,
  parseServerVersion,
  type ServerVersion,
} from "./protocol/server-version.ts";
