/**
 * `troupe services [name]`: the services answering `$SRV.INFO` (NATS ADR-32), each with its
 * instances (id, runtime, host) and endpoints (subject, method kind), or the raw replies with
 * `--json`. The NATS server is `--server`, else NATS_URL, else the one a running `troupe dev`
 * uses (its status file in the data folder).
 */
import { parseArgs } from "node:util";
import { serviceInfos } from "../../discovery/discover.ts";
import { EndpointMetadata, ServiceMetadata } from "../../discovery/metadata-keys.ts";
import type { InfoResponse } from "../../discovery/service-responses.ts";
import { readEnv } from "../../platform/env.ts";
import { currentDir, resolvePath } from "../../platform/files.ts";
import { connect } from "../../platform/nats-connect.ts";
import { type CliCommand, parseMs, UsageError } from "../command.ts";
import { defaultDevOptions } from "../dev/dev-options.ts";
import { readDevState } from "../dev/dev-state.ts";
import { parseServers } from "../process-env.ts";

export const servicesUsage = `Usage: troupe services [name] [options]

Lists the services that answer $SRV.INFO: instances and endpoints.

Options:
  --server <urls>     the NATS server (default: $NATS_URL, else the one of a running troupe dev)
  --data-dir <dir>    the data folder of troupe dev (default ${defaultDevOptions.dataDir})
  --timeout-ms <n>    how long to wait for the first answer (default 2000)
  --json              the $SRV.INFO replies as JSON
  -h, --help          this help
`;

export interface ServicesArgs {
  readonly name: string | undefined;
  readonly server: string | undefined;
  readonly dataDir: string;
  readonly timeoutMs: number;
  readonly json: boolean;
}

export function parseServicesArgs(args: readonly string[]): ServicesArgs | "help" {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help === true) return "help";
  if (positionals.length > 1) throw new UsageError(`one service name at most, got ${positionals.join(" ")}`);
  return {
    name: positionals[0],
    server: values.server,
    dataDir: values["data-dir"] ?? defaultDevOptions.dataDir,
    timeoutMs: parseMs("timeout-ms", values["timeout-ms"], 2_000),
    json: values.json === true,
  };
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: {
      server: { type: "string" },
      "data-dir": { type: "string" },
      "timeout-ms": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** The lines `troupe services` prints for these replies. */
export function formatServices(infos: readonly InfoResponse[]): string[] {
  if (infos.length === 0) return ["no services answered $SRV.INFO"];
  const byName = new Map<string, InfoResponse[]>();
  for (const info of infos) byName.set(info.name, [...(byName.get(info.name) ?? []), info]);
  const lines: string[] = [];
  for (const [name, instances] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    const first = instances[0];
    if (first === undefined) continue;
    const count = `${instances.length} instance${instances.length === 1 ? "" : "s"}`;
    lines.push(`${name} ${first.version}  ${count}  ${first.description}`);
    for (const instance of instances) {
      const runtime = instance.metadata[ServiceMetadata.runtime] ?? "?";
      const host = instance.metadata[ServiceMetadata.host] ?? "?";
      lines.push(`  instance ${instance.id}  ${runtime} on ${host}`);
    }
    for (const endpoint of first.endpoints) {
      const kind = endpoint.metadata[EndpointMetadata.kind] ?? "";
      lines.push(`  endpoint ${endpoint.subject}  ${kind}`.trimEnd());
    }
  }
  return lines;
}

export const servicesCommand: CliCommand = {
  name: "services",
  summary: "list services, their instances and endpoints ($SRV.INFO)",
  usage: servicesUsage,
  async run(args) {
    const parsed = parseServicesArgs(args);
    if (parsed === "help") {
      console.log(servicesUsage);
      return 0;
    }
    const server =
      parsed.server ??
      readEnv("NATS_URL") ??
      readDevState(resolvePath(currentDir(), parsed.dataDir))?.natsUrl;
    if (server === undefined) {
      console.error("no NATS server: pass --server, set NATS_URL, or start `troupe dev`");
      return 1;
    }
    let nc: Awaited<ReturnType<typeof connect>>;
    try {
      nc = await connect({ servers: parseServers(server), name: "troupe-cli" });
    } catch (err) {
      console.error(
        `cannot connect to NATS at ${server}: ${err instanceof Error ? err.message : String(err)}`,
      );
      return 1;
    }
    try {
      const infos = await serviceInfos(nc, { name: parsed.name, timeoutMs: parsed.timeoutMs });
      if (parsed.json) console.log(JSON.stringify(infos, null, 2));
      else for (const line of formatServices(infos)) console.log(line);
      return parsed.name !== undefined && infos.length === 0 ? 1 : 0;
    } finally {
      await nc.close();
    }
  },
};
