/**
 * What every Troupe process (an actor, the gateway) takes from the environment the same way:
 * its NATS connection (NATS_URL, NATS_CREDS, NATS_USER + NATS_PASSWORD, NATS_TOKEN; TLS from
 * NATS_CA, NATS_CERT + NATS_KEY, nats-tls-from-env.ts), refused
 * when the server is older than Troupe supports (docs/adr/0002-nats-server-for-development-and-tests.md),
 * the replica count of what it declares in JetStream (TROUPE_JETSTREAM_REPLICAS: 1, 3 or 5; the
 * streams, consumers and KV buckets its code declares without one, default-replicas.ts),
 * its version routing (the watched route records, docs/adr/0012-discovery-direct-calls-and-traffic.md),
 * and its shutdown: on SIGTERM/SIGINT, drain once, then exit 0 (1 when draining failed).
 */

import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { setDefaultReplicas } from "../jetstream/default-replicas.ts";
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
import { privateInboxPrefix } from "../protocol/subjects.ts";
import { seedOfCreds } from "../security/credentials.ts";
import { rememberCredentials, rememberTrustedCa } from "../security/direct-auth.ts";
import { describeNatsConnectError, natsTlsFromEnv } from "./nats-tls-from-env.ts";

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
 * TROUPE_GATEWAY_KEY: the gateway's public nkeys (comma-separated, several while one is rotated),
 * whose signature an actor requires on identity headers (docs/adr/0030-credentials-from-declarations.md).
 */
export function gatewayKeysFromEnv(): string[] {
  return (readEnv("TROUPE_GATEWAY_KEY") ?? "")
    .split(",")
    .map((key) => key.trim())
    .filter((key) => key !== "");
}

/**
 * The nkey seed of the creds file NATS_CREDS names: the gateway signs forwarded identities with
 * it. Undefined without NATS_CREDS.
 */
export function credsSeedFromEnv(): string | undefined {
  const file = readEnv("NATS_CREDS");
  const creds = file === undefined ? undefined : readTextFile(file);
  return creds === undefined ? undefined : seedOfCreds(creds);
}

/** TROUPE_JETSTREAM_REPLICAS: 1 (one server), 3 or 5 (a cluster); throws on anything else. */
export function jetstreamReplicasFromEnv(): number {
  const text = readEnv("TROUPE_JETSTREAM_REPLICAS");
  if (text === undefined || text === "") return 1;
  const value = Number(text);
  if (![1, 3, 5].includes(value))
    throw new Error(`TROUPE_JETSTREAM_REPLICAS must be 1, 3 or 5, got "${text}"`);
  return value;
}

/**
 * Connects as `name` with the environment's servers, TLS and credentials, reconnecting for ever,
 * and gives the connection the environment's JetStream replica count (TROUPE_JETSTREAM_REPLICAS).
 * Replies come to the process's private inbox prefix (`_INBOX.<name>`, TROUPE_NAMESPACE
 * included), the only one its credentials may subscribe to (docs/adr/0030-credentials-from-declarations.md).
 * Throws an Error that says what is wrong: an unreadable creds or certificate file, no server, a
 * server certificate not trusted, a server too old.
 */
export async function connectFromEnv(name: string): Promise<NatsConnection> {
  const replicas = jetstreamReplicasFromEnv();
  const servers = natsServersFromEnv();
  const credsFile = readEnv("NATS_CREDS");
  const creds = credsFile === undefined ? undefined : readTextFile(credsFile);
  if (credsFile !== undefined && creds === undefined)
    throw new Error(`cannot read NATS_CREDS file ${credsFile}`);
  const tls = natsTlsFromEnv(servers);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name,
      inboxPrefix: privateInboxPrefix(name, readEnv("TROUPE_NAMESPACE") ?? ""),
      maxReconnectAttempts: -1,
      ...(tls === undefined ? {} : { tls }),
      ...(creds === undefined ? {} : { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) }),
      ...optional("user", readEnv("NATS_USER")),
      ...optional("pass", readEnv("NATS_PASSWORD")),
      ...optional("token", readEnv("NATS_TOKEN")),
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${servers.join(",")}: ${describeNatsConnectError(err, tls)}`);
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
  setDefaultReplicas(nc, replicas);
  // Calls by address prove this user, and a listener asks callers for the same account's users.
  if (creds !== undefined) rememberCredentials(nc, creds);
  // Calls by address to a `tls://` address trust the CA that nats-server's certificate is checked with.
  const caPem = tls?.caFile === undefined ? undefined : readTextFile(tls.caFile);
  if (caPem !== undefined) rememberTrustedCa(nc, caPem);
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
