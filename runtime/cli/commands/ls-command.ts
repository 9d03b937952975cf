/**
 * `troupe ls [name]`: the services that answer `$SRV.INFO` (NATS ADR-32), one row each: its
 * versions (with how many instances run each, so a canary shows), instances, endpoints and the
 * proto services it serves; `--json` for scripts. `troupe services` is the same command.
 */

import { serviceInfos } from "../../discovery/discover.ts";
import { parseServiceList, ServiceMetadata } from "../../discovery/metadata-keys.ts";
import type { InfoResponse } from "../../discovery/service-responses.ts";
import {
  CONNECTION_FLAGS,
  CONNECTION_USAGE,
  type ConnectionArgs,
  connectionArgs,
  parseDuration,
  withConnection,
} from "../cli-connection.ts";
import { type CliCommand, parseFlags, UsageError } from "../command.ts";
import { reportFailures } from "../command-errors.ts";
import { type CommandIo, processIo } from "../command-io.ts";
import { formatTable } from "../text-table.ts";

export const lsUsage = `Usage: troupe ls [name] [options]

Lists the services that answer $SRV.INFO: versions, instances, endpoints and the proto services
they serve. With a name, only that service (exit 1 when it has no instance).
\`troupe services\` is the same command.

Options:
${CONNECTION_USAGE}
  --timeout <d>        how long to wait for the first answer (default 2s)
  --json               one JSON array for scripts
  -h, --help           this help
`;

export interface LsArgs {
  readonly name: string | undefined;
  readonly connection: ConnectionArgs;
  readonly timeoutMs: number;
  readonly json: boolean;
}

const FLAGS = {
  ...CONNECTION_FLAGS,
  timeout: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export function parseLsArgs(args: readonly string[]): LsArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  if (positionals.length > 1) throw new UsageError(`one service name at most, got ${positionals.join(" ")}`);
  return {
    name: positionals[0],
    connection: connectionArgs(values),
    timeoutMs: parseDuration("timeout", values.timeout, 2_000),
    json: values.json === true,
  };
}

/** One service as `troupe ls` shows it. */
export interface ServiceSummary {
  readonly name: string;
  readonly description: string;
  /** Each version that runs, with its number of instances. */
  readonly versions: Readonly<Record<string, number>>;
  readonly instances: number;
  /** Distinct endpoints (RPC methods) over all instances. */
  readonly endpoints: number;
  /** The proto services its instances serve (`troupe.services`). */
  readonly serves: readonly string[];
}

/** The replies grouped by service name, sorted by name. */
export function summarizeServices(infos: readonly InfoResponse[]): ServiceSummary[] {
  const byName = new Map<string, InfoResponse[]>();
  for (const info of infos) byName.set(info.name, [...(byName.get(info.name) ?? []), info]);
  return [...byName]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, instances]) => {
      const versions: Record<string, number> = {};
      for (const i of [...instances].sort((a, b) => a.version.localeCompare(b.version))) {
        versions[i.version] = (versions[i.version] ?? 0) + 1;
      }
      const serves = new Set(
        instances.flatMap((i) => parseServiceList(i.metadata[ServiceMetadata.services])),
      );
      return {
        name,
        description: instances.find((i) => i.description !== "")?.description ?? "",
        versions,
        instances: instances.length,
        endpoints: new Set(instances.flatMap((i) => i.endpoints.map((e) => e.subject))).size,
        serves: [...serves].sort(),
      };
    });
}

/** `1.0.0`, or `1.0.0 ×2, 1.1.0 ×1` when versions differ. */
export function formatVersions(versions: Readonly<Record<string, number>>): string {
  const entries = Object.entries(versions);
  if (entries.length === 1) return entries[0]?.[0] ?? "";
  return entries.map(([version, n]) => `${version} ×${n}`).join(", ");
}

/** The lines `troupe ls` prints. */
export function formatServiceList(summaries: readonly ServiceSummary[]): string[] {
  if (summaries.length === 0) return ["no services answered $SRV.INFO"];
  return formatTable(
    ["SERVICE", "VERSIONS", "INSTANCES", "ENDPOINTS", "SERVES", "DESCRIPTION"],
    summaries.map((s) => [
      s.name,
      formatVersions(s.versions),
      String(s.instances),
      String(s.endpoints),
      s.serves.join(",") || "-",
      s.description,
    ]),
  );
}

export async function runLs(args: readonly string[], io: CommandIo = processIo): Promise<number> {
  const parsed = parseLsArgs(args);
  if (parsed === "help") {
    io.out(lsUsage);
    return 0;
  }
  return reportFailures("ls", io, () =>
    withConnection(parsed.connection, async (nc) => {
      const infos = await serviceInfos(nc, { name: parsed.name, timeoutMs: parsed.timeoutMs });
      const summaries = summarizeServices(infos);
      if (parsed.json) io.out(JSON.stringify(summaries, null, 2));
      else for (const line of formatServiceList(summaries)) io.out(line);
      if (parsed.name !== undefined && infos.length === 0) {
        io.err(`troupe ls: no instance of service "${parsed.name}" answered`);
        return 1;
      }
      return 0;
    }),
  );
}

export const lsCommand: CliCommand = {
  name: "ls",
  summary: "list services: versions, instances, endpoints ($SRV.INFO)",
  usage: lsUsage,
  run: (args) => runLs(args),
};

/** The older name of `troupe ls`. */
export const servicesCommand: CliCommand = {
  name: "services",
  summary: "the same as troupe ls",
  usage: lsUsage,
  run: (args) => runLs(args),
};
