/**
 * `troupe doctor`: what a system needs from its NATS server, checked from this host — the
 * server's version (Troupe needs 2.11 or newer), JetStream and the account's limits, max_payload,
 * the clock skew between this host and the server, and which services answer `$SRV.PING`. Each
 * check is one line, `ok`, `warn` or `FAIL`; any FAIL exits 1.
 *
 * The clock skew is read from the `ts` field (the server's time, RFC 3339) of a JetStream
 * STREAM.INFO reply, asked for any stream the account has: the reply was made between sending
 * the request and receiving the answer, so the skew is the server's time minus the midpoint of
 * the two, give or take half the round trip. Without a stream there is nothing to ask, and the
 * check says so (the $SYS account, which knows the time too, is seldom open to a client).
 */
import { type JetStreamAccountStats, jetstreamManager } from "@nats-io/jetstream";
import { Empty, type NatsConnection } from "@nats-io/nats-core";
import { pingServices } from "../../discovery/discover.ts";
import {
  formatServerVersion,
  isAtLeast,
  MIN_SERVER_VERSION,
  parseServerVersion,
} from "../../protocol/server-version.ts";
import { JS_API_PREFIX } from "../../protocol/subjects.ts";
import {
  CONNECTION_FLAGS,
  CONNECTION_USAGE,
  type ConnectionArgs,
  connectionArgs,
  parseDuration,
  serverOf,
  withConnection,
} from "../cli-connection.ts";
import { type CliCommand, parseFlags } from "../command.ts";
import { errorLine, reportFailures } from "../command-errors.ts";
import { type CommandIo, processIo } from "../command-io.ts";
import { formatTable } from "../text-table.ts";

export const doctorUsage = `Usage: troupe doctor [options]

Checks the NATS server from this host: its version (Troupe needs ${MIN_SERVER_VERSION} or newer),
JetStream and the account's limits, max_payload, the clock skew between this host and the
server, and the services that answer $SRV.PING. Exit 1 when a check fails.

Options:
${CONNECTION_USAGE}
  --timeout <d>        how long each request may take (default 2s)
  --json               the checks as JSON
  -h, --help           this help
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  timeout: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export interface DoctorArgs {
  readonly connection: ConnectionArgs;
  readonly timeoutMs: number;
  readonly json: boolean;
}

export function parseDoctorArgs(args: readonly string[]): DoctorArgs | "help" {
  const { values } = parseFlags(args, FLAGS, false);
  if (values.help === true) return "help";
  return {
    connection: connectionArgs(values),
    timeoutMs: parseDuration("timeout", values.timeout, 2_000),
    json: values.json === true,
  };
}

export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** Figures for scripts (--json). */
  readonly data?: Readonly<Record<string, unknown>>;
  /** Extra lines under the check (the services). */
  readonly lines?: readonly string[];
}

/** A skew above this is worth a warning: stream TTLs and schedules run on the server's clock. */
export const CLOCK_SKEW_WARN_MS = 1_000;

export async function runChecks(nc: NatsConnection, server: string, timeoutMs: number): Promise<Check[]> {
  const checks: Check[] = [serverCheck(nc, server)];
  const jetstream = await jetstreamCheck(nc, timeoutMs);
  checks.push(jetstream.check);
  const maxPayload = nc.info?.max_payload ?? 0;
  checks.push({
    name: "max_payload",
    status: maxPayload > 0 ? "ok" : "warn",
    detail:
      maxPayload > 0
        ? `${formatBytes(maxPayload)} (larger messages are refused: resource_exhausted)`
        : "not reported",
    data: { max_payload: maxPayload },
  });
  checks.push(
    jetstream.enabled
      ? await clockCheck(nc, timeoutMs)
      : {
          name: "clock",
          status: "warn",
          detail: "not measured: the measure reads the server's time from a JetStream reply",
        },
  );
  checks.push(await servicesCheck(nc, timeoutMs));
  return checks;
}

function serverCheck(nc: NatsConnection, server: string): Check {
  const text = nc.info?.version ?? "";
  const version = parseServerVersion(text);
  const min = parseServerVersion(MIN_SERVER_VERSION);
  const recent = version !== undefined && min !== undefined && isAtLeast(version, min);
  const name =
    version === undefined ? `an unknown version ("${text}")` : `nats-server ${formatServerVersion(version)}`;
  return {
    name: "server",
    status: recent ? "ok" : "fail",
    detail: `${name} at ${server}${recent ? ` (≥ ${MIN_SERVER_VERSION})` : `: Troupe needs ${MIN_SERVER_VERSION} or newer`}`,
    data: {
      version: text,
      url: server,
      server_name: nc.info?.server_name ?? "",
      at_least_min: recent,
      min: MIN_SERVER_VERSION,
    },
  };
}

async function jetstreamCheck(
  nc: NatsConnection,
  timeoutMs: number,
): Promise<{ check: Check; enabled: boolean }> {
  let info: JetStreamAccountStats;
  try {
    info = await (await jetstreamManager(nc, { timeout: timeoutMs })).getAccountInfo();
  } catch (err) {
    return {
      enabled: false,
      check: {
        name: "jetstream",
        status: "fail",
        detail: `not available to this account (${errorLine(err)}): events, queues, state and routes need it`,
      },
    };
  }
  const { limits } = info;
  const limit = (n: number, f: (n: number) => string = String) =>
    n < 0 ? "unlimited" : n === 0 ? "none" : f(n);
  const domain = info.domain === undefined || info.domain === "" ? "" : ` in domain ${info.domain}`;
  return {
    enabled: true,
    check: {
      name: "jetstream",
      status: "ok",
      detail:
        `enabled${domain}; limits: memory ${limit(limits.max_memory, formatBytes)}, storage ${limit(limits.max_storage, formatBytes)}, ` +
        `streams ${limit(limits.max_streams)}, consumers ${limit(limits.max_consumers)}; ` +
        `in use: ${info.streams} streams, ${info.consumers} consumers, ${formatBytes(info.storage)} stored, ${formatBytes(info.memory)} in memory`,
      data: {
        limits,
        streams: info.streams,
        consumers: info.consumers,
        storage: info.storage,
        memory: info.memory,
        domain: info.domain ?? "",
      },
    },
  };
}

/** Milliseconds since the epoch of an RFC 3339 time with up to nanoseconds. */
export function parseServerTime(text: string): number | undefined {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (match === null) return undefined;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  const fraction = match[2] === undefined ? 0 : Number(`0.${match[2]}`) * 1000;
  return Number.isNaN(ms) ? undefined : ms + fraction;
}

async function clockCheck(nc: NatsConnection, timeoutMs: number): Promise<Check> {
  const name = "clock";
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    let stream: string | undefined;
    for await (const s of jsm.streams.names()) {
      stream = s;
      break;
    }
    if (stream === undefined) {
      return {
        name,
        status: "warn",
        detail: "not measured: the account has no stream whose STREAM.INFO reply tells the server's time",
      };
    }
    const sent = Date.now();
    const reply = await nc.request(`${JS_API_PREFIX}.STREAM.INFO.${stream}`, Empty, { timeout: timeoutMs });
    const received = Date.now();
    const ts = (reply.json() as { ts?: unknown }).ts;
    const serverMs = typeof ts === "string" ? parseServerTime(ts) : undefined;
    if (serverMs === undefined) {
      return {
        name,
        status: "warn",
        detail: `not measured: the STREAM.INFO reply has no server time (ts: ${JSON.stringify(ts)})`,
      };
    }
    const skewMs = serverMs - (sent + received) / 2;
    const errorMs = (received - sent) / 2;
    const ahead =
      Math.abs(skewMs) < 0.5
        ? "in step with this host"
        : `${Math.abs(skewMs).toFixed(0)} ms ${skewMs > 0 ? "ahead of" : "behind"} this host`;
    return {
      name,
      status: Math.abs(skewMs) - errorMs > CLOCK_SKEW_WARN_MS ? "warn" : "ok",
      detail: `the server is ${ahead} (±${Math.max(errorMs, 0.5).toFixed(0)} ms; from the time in a STREAM.INFO reply for ${stream})`,
      data: { skew_ms: skewMs, uncertainty_ms: errorMs, stream },
    };
  } catch (err) {
    return { name, status: "warn", detail: `not measured: ${errorLine(err)}` };
  }
}

async function servicesCheck(nc: NatsConnection, timeoutMs: number): Promise<Check> {
  const name = "services";
  const found = await pingServices(nc, { timeoutMs });
  if (found.length === 0)
    return { name, status: "warn", detail: "no service answered $SRV.PING", data: { instances: [] } };
  // Each instance once more on its own subject, to time its answer.
  const timed = await Promise.all(
    found
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
      .map(async (p) => {
        const started = performance.now();
        const again = await pingServices(nc, { name: p.name, id: p.id, timeoutMs });
        return {
          name: p.name,
          id: p.id,
          version: p.version,
          rtt_ms: again.length === 0 ? null : performance.now() - started,
        };
      }),
  );
  const silent = timed.filter((t) => t.rtt_ms === null);
  const services = new Set(found.map((p) => p.name)).size;
  return {
    name,
    status: silent.length === 0 ? "ok" : "warn",
    detail:
      `${found.length} instance${found.length === 1 ? "" : "s"} of ${services} service${services === 1 ? "" : "s"} answer PING` +
      (silent.length === 0 ? "" : `; ${silent.length} did not answer again on their own subject`),
    data: { instances: timed },
    lines: formatTable(
      ["SERVICE", "INSTANCE", "VERSION", "RTT"],
      timed.map((t) => [
        t.name,
        t.id,
        t.version,
        t.rtt_ms === null ? "no answer" : `${t.rtt_ms.toFixed(1)}ms`,
      ]),
    ),
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const LABEL: Record<CheckStatus, string> = { ok: "ok  ", warn: "warn", fail: "FAIL" };

export function formatChecks(checks: readonly Check[]): string[] {
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks.flatMap((c) => [
    `${LABEL[c.status]}  ${c.name.padEnd(width)}  ${c.detail}`,
    ...(c.lines ?? []).map((l) => `      ${l}`),
  ]);
}

export async function runDoctor(args: readonly string[], io: CommandIo = processIo): Promise<number> {
  const parsed = parseDoctorArgs(args);
  if (parsed === "help") {
    io.out(doctorUsage);
    return 0;
  }
  return reportFailures("doctor", io, () =>
    withConnection(parsed.connection, async (nc) => {
      const checks = await runChecks(nc, serverOf(parsed.connection), parsed.timeoutMs);
      if (parsed.json)
        io.out(
          JSON.stringify(
            checks.map(({ lines: _, ...c }) => c),
            null,
            2,
          ),
        );
      else for (const line of formatChecks(checks)) io.out(line);
      return checks.some((c) => c.status === "fail") ? 1 : 0;
    }),
  );
}

export const doctorCommand: CliCommand = {
  name: "doctor",
  summary: "check the NATS server: version, JetStream, limits, clock, services",
  usage: doctorUsage,
  run: (args) => runDoctor(args),
};
