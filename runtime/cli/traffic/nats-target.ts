/**
 * What the traffic and JetStream commands (`tail`, `decode`, `publish`, `enqueue`, `streams`,
 * `consumers`, `dlq`) share: the `--server` and `--namespace` flags, the connection, where the
 * output goes, and the one-line error on failure. The server is `--server` (a comma-separated
 * list, like the nats CLI's), else NATS_URL, else the one a running `troupe dev` uses, else
 * nats://127.0.0.1:4222; the namespace is `--namespace`, else TROUPE_NAMESPACE, else none.
 */
import { ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { parseServers } from "../../process/process-env.ts";
import { namespacePrefix } from "../../protocol/subjects.ts";
import {
  type ConnectionArgs,
  connectCli,
  connectionArgs,
  DEFAULT_SERVER,
  serverOf,
} from "../cli-connection.ts";
import { type CliCommand, UsageError } from "../command.ts";
import { defaultDevOptions } from "../dev/dev-options.ts";

/** The flags every traffic command takes (spread into its own `parseFlags` table). */
export const NATS_FLAGS = {
  server: { type: "string", short: "s" },
  namespace: { type: "string" },
  "data-dir": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The lines of `--help` for NATS_FLAGS. */
export const NATS_FLAGS_USAGE = `  -s, --server <urls>  the NATS server (default: $NATS_URL, else the one of a running troupe dev,
                       else ${DEFAULT_SERVER})
  --namespace <ns>     the namespace of the subjects, streams and buckets (default: $TROUPE_NAMESPACE)
  --data-dir <dir>     the data folder of troupe dev, whose server, credentials and CA to use
                       (default ${defaultDevOptions.dataDir})
  --json               output for scripts: JSON instead of a table
  -h, --help           this help`;

export interface NatsTarget {
  readonly servers: readonly string[];
  readonly namespace: string;
  readonly json: boolean;
  /** How the server was named: troupe dev's credentials and CA apply when it is troupe dev's. */
  readonly connection: ConnectionArgs;
}

/** The server, namespace and `--json` of parsed NATS_FLAGS. */
export function natsTargetOf(values: {
  readonly server?: string | undefined;
  readonly namespace?: string | undefined;
  readonly "data-dir"?: string | undefined;
  readonly json?: boolean | undefined;
}): NatsTarget {
  const args = connectionArgs(values);
  const server = serverOf(args);
  const servers = parseServers(server);
  if (servers.length === 0) throw new UsageError(`--server names no server: "${server}"`);
  const { namespace } = args;
  try {
    namespacePrefix(namespace);
  } catch (err) {
    throw new UsageError(`--namespace: ${(err as Error).message}`);
  }
  return { servers, namespace, json: values.json === true, connection: args };
}

/** Where a command writes, what it reads, and when it should stop following (Ctrl-C). */
export interface CommandIo {
  /** One line of the command's output (stdout). */
  out(line: string): void;
  /** One line of diagnostics (stderr). */
  err(line: string): void;
  /** The whole of stdin. */
  readStdin(): Promise<Uint8Array>;
  /** Aborted when a following command should stop (SIGINT, SIGTERM). */
  readonly signal: AbortSignal;
}

/** A command that tests can run with their own CommandIo (the CLI passes none: the process's). */
export interface TrafficCommand extends CliCommand {
  run(args: readonly string[], io?: CommandIo): Promise<number>;
}

/** The process's own stdout, stderr and stdin; `signal` aborts on the first SIGINT or SIGTERM. */
export function processIo(): CommandIo {
  const stop = new AbortController();
  const abort = () => stop.abort();
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  stop.signal.addEventListener("abort", () => {
    process.off("SIGINT", abort);
    process.off("SIGTERM", abort);
  });
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    async readStdin() {
      const chunks: Uint8Array[] = [];
      for await (const chunk of process.stdin) {
        chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : (chunk as Uint8Array));
      }
      const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.byteLength;
      }
      return bytes;
    },
    signal: stop.signal,
  };
}

/**
 * Connects to `target`, runs `body`, closes the connection. A failure to connect, a
 * CommandError or a ConnectError becomes one line on stderr, `troupe <command>: …`, and exit
 * code 1; a UsageError goes on to the dispatcher (usage text, exit 2).
 */
export async function withNats(
  command: string,
  target: NatsTarget,
  io: CommandIo,
  body: (nc: NatsConnection) => Promise<number>,
): Promise<number> {
  let nc: NatsConnection;
  try {
    // Credentials as the other commands take them; a following command (tail) reconnects.
    nc = await connectCli(target.connection, { name: `troupe-cli-${command}`, reconnect: true });
  } catch (err) {
    io.err(`troupe ${command}: ${messageOf(err)}`);
    return 1;
  }
  try {
    return await body(nc);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    io.err(`troupe ${command}: ${messageOf(err)}`);
    return 1;
  } finally {
    await nc.close().catch(() => {});
  }
}

/** An error's message on one line (a ConnectError's without its `[code]` prefix). */
export function messageOf(err: unknown): string {
  const text =
    err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
  return text.replace(/\s*[\r\n]+\s*/g, " ");
}
