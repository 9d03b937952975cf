import type { LogLevel } from "../../observability/logger.ts";

/** The JavaScript runtime each actor process runs on. */
export type ActorRuntime = "bun" | "deno" | "node";

/**
 * How `troupe dev` runs (flags in runtime/cli/commands/dev-command.ts); what it runs is the
 * project's configuration, troupe.json (project-config.ts).
 */
export interface DevOptions {
  /** The project folder: troupe.json is read, actors are found and data kept relative to it. */
  readonly root: string;
  /** Every `<actorsDir>/<name>/main.ts` runs as one process; undefined: troupe.json `actors`. */
  readonly actorsDir: string | undefined;
  /** nats-server's store, saved mail, the dev JWT keys and the status file; kept between runs. */
  readonly dataDir: string;
  /** The gateway's port (GATEWAY_PORT); a free one when taken. */
  readonly gatewayPort: number;
  /** The nats-server's client port; a free one when taken. Not 4222, where another server may run. */
  readonly natsPort: number;
  /** Ports for troupe.json services instead of their `port` (0: a free one), by service name. */
  readonly servicePorts: Readonly<Record<string, number>>;
  /** An existing NATS server to use instead of running one (comma-separated URLs). */
  readonly natsUrl: string | undefined;
  readonly runtime: ActorRuntime;
  /** TROUPE_LOG_LEVEL of every actor. */
  readonly logLevel: LogLevel;
  /** Show actors' JSON log lines as they are instead of `time level msg key=value`. */
  readonly jsonLogs: boolean;
  /** Colour the prefixes (only sensible on a terminal). */
  readonly color: boolean;
  /** How long startup may take until everything is discoverable and the gateway ready. */
  readonly readyTimeoutMs: number;
  /** How long a process may take to drain after SIGTERM before it is SIGKILLed. */
  readonly stopGraceMs: number;
  /** Restart an actor when a file it loads changes, once everything is ready (dev-watch.ts). */
  readonly watch: boolean;
  /**
   * Run the nats-server with authentication on, each process with the credentials its
   * declaration derives (docs/adr/0030-credentials-from-declarations.md), so that development
   * exercises the production permissions. Off only on request, or with an external NATS_URL.
   */
  readonly auth: boolean;
  /**
   * TLS on the nats-server's client port, with a local CA and certificate in `<data dir>/tls`
   * (docs/guide/tls.md); every process verifies the server. Off only on request, or with an
   * external NATS_URL.
   */
  readonly tls: boolean;
}

export const defaultDevOptions: DevOptions = {
  root: ".",
  actorsDir: undefined,
  dataDir: ".troupe/dev",
  gatewayPort: 8080,
  natsPort: 4333,
  servicePorts: {},
  natsUrl: undefined,
  runtime: "bun",
  logLevel: "info",
  jsonLogs: false,
  color: false,
  readyTimeoutMs: 60_000,
  stopGraceMs: 15_000,
  watch: false,
  auth: true,
  tls: true,
};

export function resolveDevOptions(partial: Partial<DevOptions>): DevOptions {
  const options: DevOptions = { ...defaultDevOptions, ...partial };
  const ports = [
    ["gatewayPort", options.gatewayPort],
    ["natsPort", options.natsPort],
    ...Object.entries(options.servicePorts).map(([name, port]) => [`servicePorts.${name}`, port] as const),
  ] as const;
  for (const [key, port] of ports) {
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new RangeError(`${key} must be a port number in 0..65535, got ${port}`);
    }
  }
  for (const key of ["readyTimeoutMs", "stopGraceMs"] as const) {
    if (!Number.isFinite(options[key]) || options[key] <= 0) {
      throw new RangeError(`${key} must be a positive number of milliseconds, got ${options[key]}`);
    }
  }
  return options;
}
