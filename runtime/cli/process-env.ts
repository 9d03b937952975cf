/**
 * What every Troupe process (an actor, the gateway) takes from the environment the same way:
 * its NATS connection (NATS_URL, NATS_CREDS, NATS_USER + NATS_PASSWORD, NATS_TOKEN), refused
 * when the server is older than Troupe supports (docs/adr/0002-nats-server-for-development-and-tests.md),
 * its version routing (the watched route records, docs/adr/0012-discovery-direct-calls-and-traffic.md),
 * and its shutdown: on SIGTERM/SIGINT, drain once, then exit 0 (1 when draining failed).
 */
import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { openRouteStore, type WatchedRoutes } from "../jetstream/route-store.ts";
import { errorFields, type Logger } from "../observability/logger.ts";
import { readEnv } from "../platform/env.ts";
import { readTextFile } from "../platform/files.ts";
import { connect } from "../platform/nats-connect.ts";
import { exitProcess, onShutdownSignal } from "../platform/shutdown-signals.ts";
import {
  formatServerVersion,
  isAtLeast,
  MIN_SERVER_VERSION,
  parseServerVersion,
} from "../protocol/server-version.ts";

/** A whole number (≥ 0) from the environment, `fallback` when unset; throws when it is not one. */
export function wholeNumberFromEnv(name: string, fallback: number): number {
  const text = readEnv(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${name} must be a whole number, got "${text}"`);
  return value;
}

/** The servers of a comma-separated NATS URL list (`NATS_URL`, `--server`). */
export function parseServers(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** The NATS servers of NATS_URL (default nats://127.0.0.1:4222). */
export function natsServersFromEnv(): string[] {
  return parseServers(readEnv("NATS_URL") ?? "nats://127.0.0.1:4222");
}

/**
 * Connects as `name` with the environment's servers and credentials, reconnecting for ever.
 * Throws an Error that says what is wrong: an unreadable creds file, no server, a server too old.
 */
export async function connectFromEnv(name: string): Promise<NatsConnection> {
  const servers = natsServersFromEnv();
  const credsFile = readEnv("NATS_CREDS");
  const creds = credsFile === undefined ? undefined : readTextFile(credsFile);
  if (credsFile !== undefined && creds === undefined)
    throw new Error(`cannot read NATS_CREDS file ${credsFile}`);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      ...(creds === undefined ? {} : { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) }),
      ...optional("user", readEnv("NATS_USER")),
      ...optional("pass", readEnv("NATS_PASSWORD")),
      ...optional("token", readEnv("NATS_TOKEN")),
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${servers.join(",")}: ${errorFields(err).error}`);
  }
  const reported = parseServerVersion(nc.info?.version ?? "");
  const min = parseServerVersion(MIN_SERVER_VERSION);
  if (reported === undefined || min === undefined || !isAtLeast(reported, min)) {
    await nc.close();
    throw new Error(
      `nats-server ${reported ? formatServerVersion(reported) : "(unknown version)"} at ${servers.join(",")} is too old: ` +
        `Troupe needs ${MIN_SERVER_VERSION} or newer`,
    );
  }
  return nc;
}

/**
 * On the first SIGTERM/SIGINT: logs "draining", runs `drain`, logs "stopped" and exits (0, or 1
 * when `drain` threw). Resolves with the exit code just before the process exits.
 */
export function drainOnSignal(
  logger: Logger,
  fields: () => Record<string, unknown>,
  drain: () => Promise<void>,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    onShutdownSignal(async (signal) => {
      if (stopping) return;
      stopping = true;
      logger.log("info", "draining", { signal, ...fields() });
      let code = 0;
      try {
        await drain();
      } catch (err) {
        logger.log("error", "drain failed", errorFields(err));
        code = 1;
      }
      logger.log("info", "stopped", { code });
      resolve(code);
      exitProcess(code);
    });
  });
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

/**
 * Weighted version routing for the process's calls (ADR 12): the namespace's route records,
 * watched, so a changed split applies without a restart. `TROUPE_ROUTES=off` turns it off; a
 * server without JetStream has no route bucket, which is logged, and calls go to any instance.
 */
export async function watchRoutesFromEnv(
  nc: NatsConnection,
  namespace: string,
  logger: Logger,
): Promise<WatchedRoutes | undefined> {
  if (readEnv("TROUPE_ROUTES") === "off") return undefined;
  try {
    const store = await openRouteStore(nc, { namespace });
    return await store.watchRoutes({
      onInvalid: (service, reason) =>
        logger.log("warn", "a route record is not valid; the previous route stays", { service, reason }),
    });
  } catch (err) {
    logger.log(
      "warn",
      "weighted version routing is off: the route bucket cannot be opened",
      errorFields(err),
    );
    return undefined;
  }
}
