/**
 * `troupe routes get [service]` and `troupe routes set <service> <version>=<weight> …`: the
 * routing records that split a proto service's calls between its versions
 * (docs/adr/0012-discovery-direct-calls-and-traffic.md; runtime/jetstream/route-store.ts). Every
 * actor and the gateway follow them live, so `set` changes the split of the running system with
 * no restart; `delete` sends the calls to any instance again. `get` reads the bucket and never
 * creates it; each version is shown with the instances that run it now, so a weight on a
 * version nobody runs (its calls fail `unavailable`) is plain to see.
 */
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { serviceInfos } from "../../discovery/discover.ts";
import { parseServiceList, ServiceMetadata } from "../../discovery/metadata-keys.ts";
import { listKeys } from "../../jetstream/kv-keys.ts";
import { openRouteStore } from "../../jetstream/route-store.ts";
import { decodeRoute, type RouteRecord } from "../../protocol/route-record.ts";
import { routesBucketName } from "../../protocol/subjects.ts";
import {
  CONNECTION_FLAGS,
  CONNECTION_USAGE,
  type ConnectionArgs,
  connectionArgs,
  withConnection,
} from "../cli-connection.ts";
import { type CliCommand, parseFlags, UsageError } from "../command.ts";
import { CommandError, reportFailures } from "../command-errors.ts";
import { type CommandIo, processIo } from "../command-io.ts";
import { formatTable } from "../text-table.ts";

export const routesUsage = `Usage: troupe routes get [service] [options]
       troupe routes set <service> <version>=<weight> ... [options]
       troupe routes delete <service> [options]

The routing records: how the calls of a proto service (shop.v1.ProductService) are split between
its versions. Weights are relative (90/10 and 9/1 split alike); a version of weight 0 gets no
calls. Actors and the gateway apply a change to their next call, with no restart.

  get       every record, or one service's, with the instances running each version now
  set       writes a service's record (refused when no running instance serves the service,
            unless --force)
  delete    removes a service's record: its calls go to any instance again

Options:
${CONNECTION_USAGE}
  --force              set a record for a service nobody serves now
  --json               JSON for scripts
  -h, --help           this help
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  force: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export type RoutesArgs = {
  readonly connection: ConnectionArgs;
  readonly json: boolean;
  readonly force: boolean;
} & (
  | { readonly action: "get"; readonly service: string | undefined }
  | { readonly action: "set"; readonly service: string; readonly record: RouteRecord }
  | { readonly action: "delete"; readonly service: string }
);

export function parseRoutesArgs(args: readonly string[]): RoutesArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  const common = {
    connection: connectionArgs(values),
    json: values.json === true,
    force: values.force === true,
  };
  const [action, service, ...rest] = positionals;
  switch (action) {
    case "get":
      if (rest.length > 0)
        throw new UsageError(`routes get takes one service at most, got ${positionals.slice(1).join(" ")}`);
      return { ...common, action, service };
    case "delete":
      if (service === undefined || rest.length > 0) throw new UsageError("routes delete takes one service");
      return { ...common, action, service };
    case "set": {
      if (service === undefined || rest.length === 0) {
        throw new UsageError(
          "routes set <service> <version>=<weight> ..., e.g. routes set shop.v1.ProductService 1.0.0=90 1.1.0=10",
        );
      }
      const weights: Record<string, number> = {};
      for (const pair of rest) {
        const match = /^([^=\s]+)=(\d+(?:\.\d+)?)$/.exec(pair);
        if (match === null) throw new UsageError(`a weight is <version>=<number>, got "${pair}"`);
        const version = match[1] as string;
        if (version in weights) throw new UsageError(`version ${version} is given twice`);
        weights[version] = Number(match[2]);
      }
      return { ...common, action, service, record: { weights } };
    }
    case undefined:
      throw new UsageError("get, set or delete?");
    default:
      throw new UsageError(`unknown action "${action}": get, set or delete`);
  }
}

/** Running instances per proto service and version. */
async function runningVersions(nc: NatsConnection): Promise<Map<string, Map<string, number>>> {
  const running = new Map<string, Map<string, number>>();
  for (const info of await serviceInfos(nc, {})) {
    for (const service of parseServiceList(info.metadata[ServiceMetadata.services])) {
      const versions = running.get(service) ?? new Map<string, number>();
      versions.set(info.version, (versions.get(info.version) ?? 0) + 1);
      running.set(service, versions);
    }
  }
  return running;
}

/** The records stored now, by service; empty when the bucket does not exist. */
async function readRecords(
  nc: NatsConnection,
  namespace: string,
  only: string | undefined,
  io: CommandIo,
): Promise<Map<string, RouteRecord>> {
  const bucket = routesBucketName(namespace);
  const records = new Map<string, RouteRecord>();
  let kv: Awaited<ReturnType<Kvm["open"]>>;
  try {
    kv = await new Kvm(nc).open(bucket);
    await kv.status(); // open() does not look; this fails when the bucket is not there
  } catch {
    return records;
  }
  const keys: string[] = [];
  if (only !== undefined) keys.push(only);
  else keys.push(...(await listKeys(kv)));
  for (const key of keys.sort()) {
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== "PUT") continue;
    try {
      records.set(key, decodeRoute(entry.value).record);
    } catch (err) {
      io.err(
        `troupe routes: the record of ${key} in ${bucket} is not valid (its callers ignore it): ${(err as Error).message}`,
      );
    }
  }
  return records;
}

/** The table of records: each version with its weight, share and running instances. */
export function formatRoutes(
  records: ReadonlyMap<string, RouteRecord>,
  running: ReadonlyMap<string, ReadonlyMap<string, number>>,
): string[] {
  const rows: string[][] = [];
  for (const [service, record] of records) {
    const total = Object.values(record.weights).reduce((a, b) => a + b, 0);
    const versions = running.get(service);
    for (const [version, weight] of Object.entries(record.weights)) {
      const n = versions?.get(version) ?? 0;
      rows.push([
        service,
        version,
        String(weight),
        shareOf(weight, total),
        n === 0 ? (weight > 0 ? "0 (its calls fail: unavailable)" : "0") : String(n),
      ]);
    }
  }
  return formatTable(["SERVICE", "VERSION", "WEIGHT", "SHARE", "RUNNING"], rows);
}

function shareOf(weight: number, total: number): string {
  const percent = (100 * weight) / total;
  return `${Number.isInteger(percent) ? percent : percent.toFixed(1)}%`;
}

export async function runRoutes(args: readonly string[], io: CommandIo = processIo): Promise<number> {
  const parsed = parseRoutesArgs(args);
  if (parsed === "help") {
    io.out(routesUsage);
    return 0;
  }
  const { namespace } = parsed.connection;
  return reportFailures("routes", io, () =>
    withConnection(parsed.connection, async (nc) => {
      if (parsed.action === "get") {
        const [records, running] = await Promise.all([
          readRecords(nc, namespace, parsed.service, io),
          runningVersions(nc),
        ]);
        if (parsed.json) {
          io.out(JSON.stringify(Object.fromEntries(records), null, 2));
        } else if (records.size === 0) {
          io.out(
            parsed.service === undefined
              ? "no routing records: every call goes to any instance of its service"
              : `no routing record for ${parsed.service}: its calls go to any instance`,
          );
        } else {
          for (const line of formatRoutes(records, running)) io.out(line);
        }
        return 0;
      }
      const running = await runningVersions(nc);
      const versions = running.get(parsed.service);
      if (versions === undefined && !parsed.force) {
        throw new CommandError(
          `no running instance serves ${parsed.service} (a proto service such as shop.v1.ProductService; ` +
            `running: ${[...running.keys()].sort().join(", ") || "none"}); --force writes the record anyway`,
        );
      }
      const store = await openRouteStore(nc, { namespace });
      if (parsed.action === "delete") {
        const revision = await store.delete(parsed.service);
        if (parsed.json) io.out(JSON.stringify({ service: parsed.service, deleted: true, revision }));
        else
          io.out(
            `deleted the routing record of ${parsed.service} (revision ${revision}): its calls go to any instance`,
          );
        return 0;
      }
      const revision = await store.put(parsed.service, parsed.record);
      for (const [version, weight] of Object.entries(parsed.record.weights)) {
        if (weight > 0 && (versions?.get(version) ?? 0) === 0) {
          io.err(
            `troupe routes: warning: no instance of ${parsed.service} runs version ${version}; its share of the calls fails (unavailable)`,
          );
        }
      }
      if (parsed.json) io.out(JSON.stringify({ service: parsed.service, ...parsed.record, revision }));
      else for (const line of formatRoutes(new Map([[parsed.service, parsed.record]]), running)) io.out(line);
      return 0;
    }),
  );
}

export const routesCommand: CliCommand = {
  name: "routes",
  summary: "get or set the version weights of a service's traffic split",
  usage: routesUsage,
  run: (args) => runRoutes(args),
};
