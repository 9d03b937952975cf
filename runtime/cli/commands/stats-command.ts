/**
 * `troupe stats [service]`: request statistics from `$SRV.STATS`, per endpoint (RPC method),
 * summed over the instances and per instance: requests, errors, calls in flight, and latency
 * p50/p95/p99 and average. Troupe instances put their latency histogram and in-flight count in
 * each endpoint's `data` (docs/adr/0014-tracing-and-metrics.md); the histograms have the same
 * bucket bounds everywhere, so the sum over instances adds buckets and estimates its percentiles
 * from them as Prometheus' histogram_quantile() does (a percentile of percentiles would be
 * wrong). An endpoint of another ADR-32 service has no histogram: its percentiles show as "-".
 */
import { serviceStats } from "../../discovery/discover.ts";
import { parseServiceList, ServiceMetadata } from "../../discovery/metadata-keys.ts";
import type { EndpointStats, StatsResponse } from "../../discovery/service-responses.ts";
import { quantileOf } from "../../observability/latency-histogram.ts";
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

export const statsUsage = `Usage: troupe stats [service] [options]

Request statistics ($SRV.STATS) per endpoint: summed over the instances ("all") and per
instance: requests, errors, calls in flight, latency p50/p95/p99 and average. For keyed
services, per instance: partitions owned, actors active, turns, forwarded calls, retries
answered from memory, calls refused while a partition moved.

Options:
${CONNECTION_USAGE}
  --timeout <d>        how long to wait for the first answer (default 2s)
  --json               the figures as JSON (times in seconds)
  -h, --help           this help
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  timeout: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export interface StatsArgs {
  readonly name: string | undefined;
  readonly connection: ConnectionArgs;
  readonly timeoutMs: number;
  readonly json: boolean;
}

export function parseStatsArgs(args: readonly string[]): StatsArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  if (positionals.length > 1) throw new UsageError(`one service at most, got ${positionals.join(" ")}`);
  return {
    name: positionals[0],
    connection: connectionArgs(values),
    timeoutMs: parseDuration("timeout", values.timeout, 2_000),
    json: values.json === true,
  };
}

/** The figures of one endpoint on one instance, or summed over several. */
export interface EndpointFigures {
  readonly requests: number;
  readonly errors: number;
  /** Calls accepted and not answered yet; null when an instance does not report it. */
  readonly in_flight: number | null;
  /** Estimated from the latency histogram; null without one. */
  readonly p50_seconds: number | null;
  readonly p95_seconds: number | null;
  readonly p99_seconds: number | null;
  readonly average_seconds: number;
  /** Requests by outcome (`ok`, `not_found`, …), when reported. */
  readonly by_code: Readonly<Record<string, number>>;
}

export interface EndpointReport {
  /** `shop.v1.ProductService/GetProduct` (or the subject, for a service of another kind). */
  readonly method: string;
  readonly subject: string;
  readonly total: EndpointFigures;
  readonly instances: readonly ({ readonly id: string; readonly version: string } & EndpointFigures)[];
}

export interface ServiceStatsReport {
  readonly name: string;
  readonly instances: number;
  readonly endpoints: readonly EndpointReport[];
  /** Per instance and keyed service it serves (docs/adr/0032-keyed-virtual-actors.md); empty without. */
  readonly keyed: readonly KeyedReport[];
}

/** What one instance reports of one keyed service it serves (`keyed` in its STATS data). */
export interface KeyedReport {
  readonly service: string;
  readonly instance: string;
  /** Partitions it owns now, actors active on it now. */
  readonly partitions: number;
  readonly active: number;
  /** Since its start: turns run, calls forwarded to the owner, retries answered from memory, calls refused as moved. */
  readonly turns: number;
  readonly forwarded: number;
  readonly replayed: number;
  readonly moved: number;
}

function keyedOf(instance: StatsResponse): KeyedReport[] {
  const data = instance.data;
  const list = typeof data === "object" && data !== null ? (data as { keyed?: unknown }).keyed : undefined;
  if (!Array.isArray(list)) return [];
  const count = (v: unknown) => (typeof v === "number" ? v : 0);
  return list
    .filter((k): k is Record<string, unknown> => typeof k === "object" && k !== null)
    .map((k) => ({
      service: String(k.service ?? ""),
      instance: instance.id,
      partitions: count(k.partitions),
      active: count(k.active),
      turns: count(k.turns),
      forwarded: count(k.forwarded),
      replayed: count(k.replayed),
      moved: count(k.moved),
    }));
}

type Buckets = readonly (readonly [number | "+Inf", number])[];

/** What Troupe puts in an endpoint's `data` (EndpointMetricsSnapshot), as far as it is there. */
interface Metrics {
  readonly inFlight: number | undefined;
  readonly buckets: Buckets | undefined;
  readonly byCode: Readonly<Record<string, number>>;
}

function metricsOf(data: unknown): Metrics {
  const record = typeof data === "object" && data !== null ? (data as Record<string, unknown>) : {};
  const latency = record.latency as { buckets?: unknown } | undefined;
  const buckets = Array.isArray(latency?.buckets)
    ? (latency.buckets as unknown[]).filter(
        (b): b is [number | "+Inf", number] =>
          Array.isArray(b) && (typeof b[0] === "number" || b[0] === "+Inf") && typeof b[1] === "number",
      )
    : undefined;
  const byCode: Record<string, number> = {};
  if (typeof record.requests_by_code === "object" && record.requests_by_code !== null) {
    for (const [code, n] of Object.entries(record.requests_by_code))
      if (typeof n === "number") byCode[code] = n;
  }
  return {
    inFlight: typeof record.in_flight === "number" ? record.in_flight : undefined,
    buckets: buckets !== undefined && buckets.length > 0 ? buckets : undefined,
    byCode,
  };
}

function figuresOf(parts: readonly { stats: EndpointStats; metrics: Metrics }[]): EndpointFigures {
  const requests = parts.reduce((n, p) => n + p.stats.num_requests, 0);
  const errors = parts.reduce((n, p) => n + p.stats.num_errors, 0);
  const totalNs = parts.reduce((n, p) => n + p.stats.processing_time, 0);
  const allInFlight = parts.every((p) => p.metrics.inFlight !== undefined);
  const buckets = sumBuckets(parts.map((p) => p.metrics.buckets));
  const byCode: Record<string, number> = {};
  for (const p of parts)
    for (const [code, n] of Object.entries(p.metrics.byCode)) byCode[code] = (byCode[code] ?? 0) + n;
  const quantile = (q: number) => (buckets === undefined ? null : quantileOf(q, buckets));
  return {
    requests,
    errors,
    in_flight: allInFlight ? parts.reduce((n, p) => n + (p.metrics.inFlight ?? 0), 0) : null,
    p50_seconds: quantile(0.5),
    p95_seconds: quantile(0.95),
    p99_seconds: quantile(0.99),
    average_seconds: requests === 0 ? 0 : totalNs / requests / 1e9,
    by_code: byCode,
  };
}

/** Cumulative buckets added bound by bound; undefined unless every part has the same bounds. */
function sumBuckets(all: readonly (Buckets | undefined)[]): Buckets | undefined {
  const [first, ...rest] = all;
  if (first === undefined) return undefined;
  const sum = first.map(([bound, n]) => [bound, n] as [number | "+Inf", number]);
  for (const buckets of rest) {
    if (buckets === undefined || buckets.length !== sum.length) return undefined;
    for (let i = 0; i < sum.length; i++) {
      const [bound, n] = buckets[i] as readonly [number | "+Inf", number];
      const entry = sum[i] as [number | "+Inf", number];
      if (bound !== entry[0]) return undefined;
      entry[1] += n;
    }
  }
  return sum;
}

/** The replies grouped by service and endpoint. */
export function summarizeStats(replies: readonly StatsResponse[], namespace: string): ServiceStatsReport[] {
  const byName = new Map<string, StatsResponse[]>();
  for (const r of replies) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  return [...byName]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, instances]) => {
      const sorted = [...instances].sort((a, b) => a.id.localeCompare(b.id));
      const services = [
        ...new Set(sorted.flatMap((i) => parseServiceList(i.metadata[ServiceMetadata.services]))),
      ];
      const subjects = [...new Set(sorted.flatMap((i) => i.endpoints.map((e) => e.subject)))].sort();
      const endpoints = subjects.map((subject): EndpointReport => {
        const parts = sorted.flatMap((instance) => {
          const stats = instance.endpoints.find((e) => e.subject === subject);
          return stats === undefined ? [] : [{ instance, stats, metrics: metricsOf(stats.data) }];
        });
        return {
          method: endpointMethod(subject, namespace, services),
          subject,
          total: figuresOf(parts),
          instances: parts.map((p) => ({
            id: p.instance.id,
            version: p.instance.version,
            ...figuresOf([p]),
          })),
        };
      });
      return { name, instances: sorted.length, endpoints, keyed: sorted.flatMap(keyedOf) };
    });
}

/** `850µs`, `12.3ms`, `1.20s`; `-` when unknown. */
export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds === 0) return "0";
  if (seconds < 0.001) return `${Math.round(seconds * 1e6)}µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(seconds < 0.01 ? 2 : 1)}ms`;
  return `${seconds.toFixed(2)}s`;
}

/** The lines `troupe stats` prints. */
export function formatStats(reports: readonly ServiceStatsReport[]): string[] {
  if (reports.length === 0) return ["no services answered $SRV.STATS"];
  const lines: string[] = [];
  for (const report of reports) {
    if (lines.length > 0) lines.push("");
    lines.push(`${report.name}  (${report.instances} instance${report.instances === 1 ? "" : "s"})`);
    // No request yet: no latency to show (the histogram says 0).
    const time = (f: EndpointFigures, seconds: number | null) =>
      formatSeconds(f.requests === 0 ? null : seconds);
    const row = (method: string, instance: string, f: EndpointFigures) => [
      method,
      instance,
      String(f.requests),
      String(f.errors),
      f.in_flight === null ? "-" : String(f.in_flight),
      time(f, f.p50_seconds),
      time(f, f.p95_seconds),
      time(f, f.p99_seconds),
      time(f, f.average_seconds),
    ];
    const rows: string[][] = [];
    for (const e of report.endpoints) {
      rows.push(row(e.method, "all", e.total));
      if (report.instances > 1) for (const i of e.instances) rows.push(row("", `${i.id} (${i.version})`, i));
    }
    lines.push(
      ...formatTable(
        ["METHOD", "INSTANCE", "REQUESTS", "ERRORS", "IN FLIGHT", "P50", "P95", "P99", "AVG"],
        rows,
      ).map((l) => `  ${l}`),
    );
    if (report.keyed.length > 0) {
      lines.push("");
      lines.push(
        ...formatTable(
          ["KEYED SERVICE", "INSTANCE", "PARTITIONS", "ACTIVE", "TURNS", "FORWARDED", "REPLAYED", "MOVED"],
          report.keyed.map((k) => [
            k.service,
            k.instance,
            String(k.partitions),
            String(k.active),
            String(k.turns),
            String(k.forwarded),
            String(k.replayed),
            String(k.moved),
          ]),
        ).map((l) => `  ${l}`),
      );
    }
  }
  return lines;
}

export async function runStats(args: readonly string[], io: CommandIo = processIo): Promise<number> {
  const parsed = parseStatsArgs(args);
  if (parsed === "help") {
    io.out(statsUsage);
    return 0;
  }
  return reportFailures("stats", io, () =>
    withConnection(parsed.connection, async (nc) => {
      const replies = await serviceStats(nc, { name: parsed.name, timeoutMs: parsed.timeoutMs });
      if (parsed.name !== undefined && replies.length === 0) {
        throw new CommandError(`no instance of service "${parsed.name}" answered $SRV.STATS`);
      }
      const reports = summarizeStats(replies, parsed.connection.namespace);
      if (parsed.json) io.out(JSON.stringify(reports, null, 2));
      else for (const line of formatStats(reports)) io.out(line);
      return 0;
    }),
  );
}

export const statsCommand: CliCommand = {
  name: "stats",
  summary: "requests, errors, in flight and p50/p95/p99 per endpoint ($SRV.STATS)",
  usage: statsUsage,
  run: (args) => runStats(args),
};
