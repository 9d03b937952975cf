/**
 * The NATS connection of the inspection commands (`troupe ls`, `info`, `stats`, `call`, `routes`,
 * `doctor`; docs/adr/0023-the-troupe-cli.md). The server is `--server`, as the nats CLI takes it,
 * else NATS_URL, else the one a running `troupe dev` uses (its state file in the data folder),
 * else nats://127.0.0.1:4222. Credentials and TLS come from the environment as an actor's do
 * (NATS_CREDS, NATS_USER + NATS_PASSWORD, NATS_TOKEN; NATS_CA, NATS_CERT + NATS_KEY), else, for
 * the server of a running `troupe dev`, credentials from its operator's creds file; the
 * namespace is `--namespace`, else TROUPE_NAMESPACE.
 * No reconnects: a command that loses its server fails rather than waits.
 */
import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { readEnv } from "../platform/env.ts";
import { currentDir, readTextFile, resolvePath } from "../platform/files.ts";
import { connect } from "../platform/nats-connect.ts";
import { describeNatsConnectError, natsTlsFromEnv } from "../process/nats-tls-from-env.ts";
import { parseServers } from "../process/process-env.ts";
import { UsageError } from "./command.ts";
import { CommandError } from "./command-errors.ts";
import { defaultDevOptions } from "./dev/dev-options.ts";
import { readDevState } from "./dev/dev-state.ts";

export const DEFAULT_SERVER = "nats://127.0.0.1:4222";

/** The flags every inspection command takes, for parseFlags. */
export const CONNECTION_FLAGS = {
  server: { type: "string", short: "s" },
  namespace: { type: "string" },
  "data-dir": { type: "string" },
} as const;

/** Their lines of the usage text. */
export const CONNECTION_USAGE = `  -s, --server <urls>  the NATS server (default: $NATS_URL, else the one of a running troupe dev,
                       else ${DEFAULT_SERVER})
  --namespace <ns>     the namespace of the system (default: $TROUPE_NAMESPACE, else none)
  --data-dir <dir>     the data folder of troupe dev (default ${defaultDevOptions.dataDir})`;

export interface ConnectionArgs {
  /** undefined: NATS_URL, troupe dev, the default, in that order. */
  readonly server: string | undefined;
  readonly namespace: string;
  readonly dataDir: string;
}

export function connectionArgs(values: {
  server?: string | undefined;
  namespace?: string | undefined;
  "data-dir"?: string | undefined;
}): ConnectionArgs {
  return {
    server: values.server,
    namespace: values.namespace ?? readEnv("TROUPE_NAMESPACE") ?? "",
    dataDir: values["data-dir"] ?? defaultDevOptions.dataDir,
  };
}

/** The server the flags and the environment name. */
export function serverOf(args: ConnectionArgs): string {
  return targetOf(args).server;
}

interface Target {
  readonly server: string;
  /** troupe dev's operator creds and CA when the server is troupe dev's. */
  readonly devCreds: string | undefined;
  readonly devCa: string | undefined;
}

/** The server, and troupe dev's credentials and CA when the server is troupe dev's. */
function targetOf(args: ConnectionArgs): Target {
  const given = args.server ?? readEnv("NATS_URL");
  if (given !== undefined) return { server: given, devCreds: undefined, devCa: undefined };
  const dev = readDevState(resolvePath(currentDir(), args.dataDir));
  if (dev !== undefined) return { server: dev.natsUrl, devCreds: dev.natsCreds, devCa: dev.natsCa };
  return { server: DEFAULT_SERVER, devCreds: undefined, devCa: undefined };
}

/**
 * Connects, or fails with a CommandError naming the server. `reconnect`: keep reconnecting (a
 * command that follows traffic) instead of failing when the server goes away.
 */
export async function connectCli(
  args: ConnectionArgs,
  { name = "troupe-cli", reconnect = false }: { name?: string; reconnect?: boolean } = {},
): Promise<NatsConnection> {
  const { server, devCreds, devCa } = targetOf(args);
  const credsFile = readEnv("NATS_CREDS") ?? devCreds;
  const creds = credsFile === undefined ? undefined : readTextFile(credsFile);
  if (credsFile !== undefined && creds === undefined) {
    throw new CommandError(`cannot read NATS_CREDS file ${credsFile}`);
  }
  const user = readEnv("NATS_USER");
  const pass = readEnv("NATS_PASSWORD");
  const token = readEnv("NATS_TOKEN");
  const servers = parseServers(server);
  let tls: ReturnType<typeof natsTlsFromEnv>;
  try {
    tls = natsTlsFromEnv(servers);
    // troupe dev's server speaks TLS with its own CA: trust it when nothing else is said.
    if (devCa !== undefined && readEnv("NATS_CA") === undefined) tls = { ...tls, caFile: devCa };
  } catch (err) {
    throw new CommandError(err instanceof Error ? err.message : String(err));
  }
  try {
    return await connect({
      servers,
      name,
      ...(reconnect ? {} : { maxReconnectAttempts: 0 }),
      ...(tls === undefined ? {} : { tls }),
      ...(creds === undefined ? {} : { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) }),
      ...(user === undefined ? {} : { user }),
      ...(pass === undefined ? {} : { pass }),
      ...(token === undefined ? {} : { token }),
    });
  } catch (err) {
    throw new CommandError(`cannot connect to NATS at ${server}: ${describeNatsConnectError(err, tls)}`);
  }
}

/** Runs `body` with a connection, and closes it however `body` ends. */
export async function withConnection<T>(
  args: ConnectionArgs,
  body: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  const nc = await connectCli(args);
  try {
    return await body(nc);
  } finally {
    await nc.close().catch(() => {});
  }
}

/** `--timeout`: `500ms`, `5s`, `2m`, or a number of milliseconds. */
export function parseDuration(flag: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const unit = match?.[2] ?? "ms";
  const ms =
    match === null ? Number.NaN : Number(match[1]) * (unit === "m" ? 60_000 : unit === "s" ? 1_000 : 1);
  if (!(ms >= 1)) {
    throw new UsageError(`--${flag} must be a duration such as 500ms, 5s or 2m, got "${text}"`);
  }
  return Math.round(ms);
}
