/**
 * `troupe info <service>`: every instance of one service with its id and version (all of them,
 * so a canary beside the stable version shows), runtime, host, Troupe version and start time;
 * the endpoints with their method kind, types and the instances that serve them; and the
 * subjects that reach any instance, one version or one instance. `--json` prints the instances
 * as discoverService() returns them.
 */

import { pingServices } from "../../discovery/discover.ts";
import { discoverService, type ServiceInstance } from "../../discovery/discover-service.ts";
import { EndpointMetadata, ServiceMetadata } from "../../discovery/metadata-keys.ts";
import { VERSION_MARKER, versionToken } from "../../protocol/subjects.ts";
import {
  CONNECTION_FLAGS,
  CONNECTION_USAGE,
  type ConnectionArgs,
  connectionArgs,
  parseDuration,
  withConnection,
} from "../cli-connection.ts";
import { type CliCommand, parseFlags, UsageError } from "../command.ts";
import { CommandError, reportFailures } from "../command-errors.ts";
import { type CommandIo, processIo } from "../command-io.ts";
import { endpointMethod } from "../endpoint-method.ts";
import { formatTable } from "../text-table.ts";

export const infoUsage = `Usage: troupe info <service> [options]

Describes one service: each instance (id, version, runtime, host, start time), its endpoints
(method kind, request and response types) and the subjects that reach any instance, one version
or one instance. The service is an actor's name, as troupe ls lists it.

Options:
${CONNECTION_USAGE}
  --timeout <d>        how long to wait for the first answer (default 2s)
  --json               the instances as JSON
  -h, --help           this help
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  timeout: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export interface InfoArgs {
  readonly name: string;
  readonly connection: ConnectionArgs;
  readonly timeoutMs: number;
  readonly json: boolean;
}

export function parseInfoArgs(args: readonly string[]): InfoArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  const [name, ...more] = positionals;
  if (name === undefined) throw new UsageError("which service? troupe info <service>");
  if (more.length > 0) throw new UsageError(`one service at a time, got ${positionals.join(" ")}`);
  return {
    name,
    connection: connectionArgs(values),
    timeoutMs: parseDuration("timeout", values.timeout, 2_000),
    json: values.json === true,
  };
}

/** The lines `troupe info` prints for the instances of one service. */
export function formatServiceInfo(instances: readonly ServiceInstance[], namespace: string): string[] {
  const first = instances[0];
  if (first === undefined) return [];
  const services = [...new Set(instances.flatMap((i) => i.services))].sort();
  const versions = new Map<string, number>();
  for (const i of instances) versions.set(i.version, (versions.get(i.version) ?? 0) + 1);
  const lines = [
    `${first.name}  ${instances.find((i) => i.description !== "")?.description ?? ""}`.trimEnd(),
    `  serves    ${services.join(", ") || "-"}`,
    `  versions  ${[...versions].map(([v, n]) => `${v} (${n} instance${n === 1 ? "" : "s"})`).join(", ")}`,
    "",
    ...formatTable(
      ["INSTANCE", "VERSION", "RUNTIME", "HOST", "TROUPE", "STARTED", "DESCRIPTORS"],
      instances.map((i) => [
        i.id,
        i.version,
        i.runtime ?? "-",
        i.host ?? "-",
        i.metadata[ServiceMetadata.version] ?? "-",
        i.started ?? "-",
        shortReference(i.metadata[ServiceMetadata.descriptors]),
      ]),
    ),
    "",
  ];

  // Endpoints over all instances: an endpoint only some instances serve names them.
  const endpoints = new Map<string, { kind: string; types: string; ids: string[] }>();
  for (const instance of instances) {
    for (const e of instance.endpoints) {
      const entry = endpoints.get(e.subject) ?? {
        kind: e.metadata[EndpointMetadata.kind] ?? "-",
        types: `${e.metadata[EndpointMetadata.input] ?? "?"} → ${e.metadata[EndpointMetadata.output] ?? "?"}`,
        ids: [],
      };
      entry.ids.push(instance.id);
      endpoints.set(e.subject, entry);
    }
  }
  const rows = [...endpoints]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([subject, e]) => [
      endpointMethod(subject, namespace, services),
      e.kind,
      e.ids.length === instances.length ? "all" : e.ids.join(","),
      e.types,
    ]);
  lines.push(...formatTable(["METHOD", "KIND", "INSTANCES", "REQUEST → RESPONSE"], rows), "");

  // The subjects that reach the service, a version, an instance (ADR 12).
  const prefixes = [...new Set([...endpoints.keys()].map((s) => s.slice(0, s.lastIndexOf("."))))].sort();
  const queueGroup = instances.flatMap((i) => i.endpoints).find((e) => e.queue_group !== "")?.queue_group;
  const subjectRows: string[][] = [];
  for (const prefix of prefixes) {
    subjectRows.push(["any instance", `${prefix}.<Method>`, queueGroup ? `queue group ${queueGroup}` : ""]);
    for (const version of versions.keys()) {
      subjectRows.push([
        `version ${version}`,
        `${prefix}.<Method>.${VERSION_MARKER}.${tokenOf(version)}`,
        "",
      ]);
    }
    for (const i of instances) subjectRows.push([`instance ${i.id}`, `${prefix}.<Method>.${i.id}`, ""]);
  }
  // Unary calls by address, over TCP rather than a subject (ADR 31).
  for (const i of instances) {
    if (i.address !== undefined)
      subjectRows.push([`instance ${i.id}`, `tcp ${i.address}`, "calls by address"]);
  }
  if (subjectRows.length > 0) lines.push(...formatTable(["REACHES", "SUBJECT", ""], subjectRows));
  return lines;
}

function tokenOf(version: string): string {
  try {
    return versionToken(version);
  } catch {
    return version;
  }
}

/** `sha256:0123456789ab…`: enough of the hash to tell sets apart in a table. */
function shortReference(reference: string | undefined): string {
  if (reference === undefined) return "-";
  return reference.length > 19 ? `${reference.slice(0, 19)}…` : reference;
}

export async function runInfo(args: readonly string[], io: CommandIo = processIo): Promise<number> {
  const parsed = parseInfoArgs(args);
  if (parsed === "help") {
    io.out(infoUsage);
    return 0;
  }
  return reportFailures("info", io, () =>
    withConnection(parsed.connection, async (nc) => {
      const instances = await discoverService(nc, parsed.name, { timeoutMs: parsed.timeoutMs, stats: true });
      if (instances.length === 0) {
        const names = [
          ...new Set((await pingServices(nc, { timeoutMs: parsed.timeoutMs })).map((p) => p.name)),
        ];
        throw new CommandError(
          `no instance of service "${parsed.name}" answered; the services are: ${names.sort().join(", ") || "none"}`,
        );
      }
      if (parsed.json) io.out(JSON.stringify(instances, null, 2));
      else for (const line of formatServiceInfo(instances, parsed.connection.namespace)) io.out(line);
      return 0;
    }),
  );
}

export const infoCommand: CliCommand = {
  name: "info",
  summary: "one service: every instance and version, endpoints, subjects",
  usage: infoUsage,
  run: (args) => runInfo(args),
};
