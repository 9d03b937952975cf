/**
 * The discovery API a caller uses before a direct call
 * (docs/adr/0012-discovery-direct-calls-and-traffic.md): the instances of a service, each with
 * its id, version, endpoints, metadata, host and runtime, and, when asked, its request
 * statistics and start time. Built on `$SRV.INFO` (plus `$SRV.STATS` with `stats: true`, asked
 * at the same time, so it costs no extra wait); nothing is cached and nothing heartbeats: every
 * call asks the instances that are there now.
 *
 *   const instances = await discoverService(nc, "payment", { stats: true });
 *   const payments = createClient(PaymentService,
 *     createNatsTransport({ nc, target: { instance: instances[0].id } }));
 */
import type { DescService } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { type DiscoverOptions, defaultDiscoverOptions, serviceInfos, serviceStats } from "./discover.ts";
import { parseServiceList, ServiceMetadata } from "./metadata-keys.ts";
import type { EndpointInfo, EndpointStats, InfoResponse } from "./service-responses.ts";

export interface DiscoverServiceOptions extends Omit<DiscoverOptions, "name" | "id"> {
  /** Also ask `$SRV.STATS`: fills `started` and each endpoint's `stats`. */
  readonly stats: boolean;
}

export const defaultDiscoverServiceOptions: DiscoverServiceOptions = {
  timeoutMs: defaultDiscoverOptions.timeoutMs,
  stallMs: defaultDiscoverOptions.stallMs,
  onMalformed: undefined,
  stats: false,
};

/** One endpoint (one RPC method) of an instance. */
export interface InstanceEndpoint extends EndpointInfo {
  /** Its request statistics, when asked for and answered. */
  readonly stats: EndpointStats | undefined;
}

/** One running instance of a service, as it describes itself. */
export interface ServiceInstance {
  /** The service (actor) name, shared by its instances. */
  readonly name: string;
  /** This instance's id: what `target: { instance }` takes. */
  readonly id: string;
  readonly version: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** The proto services it serves (`troupe.services`): `shop.v1.PaymentService`. */
  readonly services: readonly string[];
  /** `troupe.host`, when the instance reports it. */
  readonly host: string | undefined;
  /** `troupe.runtime` (`bun 1.4.5`), when the instance reports it. */
  readonly runtime: string | undefined;
  /**
   * `troupe.direct`: the `host:port` where the instance takes direct calls by address
   * (docs/adr/0031-direct-calls-by-address.md), when it listens for them.
   */
  readonly address: string | undefined;
  /** When it started (RFC 3339, UTC): only with `stats: true`. */
  readonly started: string | undefined;
  readonly endpoints: readonly InstanceEndpoint[];
}

/** The instances of the service `name` (an actor's name); `[]` when none answers. */
export function discoverService(
  nc: NatsConnection,
  name: string,
  partial: Partial<DiscoverServiceOptions> = {},
): Promise<ServiceInstance[]> {
  return discover(nc, name, partial);
}

/**
 * The instances of every actor that serves the proto service `service`, whatever its name:
 * asks all services and keeps those whose `troupe.services` lists it.
 */
export async function discoverServing(
  nc: NatsConnection,
  service: DescService | string,
  partial: Partial<DiscoverServiceOptions> = {},
): Promise<ServiceInstance[]> {
  const typeName = typeof service === "string" ? service : service.typeName;
  return (await discover(nc, undefined, partial)).filter((i) => i.services.includes(typeName));
}

async function discover(
  nc: NatsConnection,
  name: string | undefined,
  partial: Partial<DiscoverServiceOptions>,
): Promise<ServiceInstance[]> {
  const { stats, ...options } = { ...defaultDiscoverServiceOptions, ...partial };
  const ask = { ...options, name, id: undefined };
  const [infos, allStats] = await Promise.all([
    serviceInfos(nc, ask),
    stats ? serviceStats(nc, ask) : Promise.resolve([]),
  ]);
  const statsById = new Map(allStats.map((s) => [`${s.name}/${s.id}`, s]));
  return infos
    .map((info) => {
      const found = statsById.get(`${info.name}/${info.id}`);
      return instanceOf(info, found?.endpoints, found?.started);
    })
    .sort((a, b) => (a.name === b.name ? compare(a.id, b.id) : compare(a.name, b.name)));
}

function instanceOf(
  info: InfoResponse,
  endpointStats: readonly EndpointStats[] | undefined,
  started: string | undefined,
): ServiceInstance {
  return {
    name: info.name,
    id: info.id,
    version: info.version,
    description: info.description,
    metadata: info.metadata,
    services: parseServiceList(info.metadata[ServiceMetadata.services]),
    host: info.metadata[ServiceMetadata.host],
    runtime: info.metadata[ServiceMetadata.runtime],
    address: info.metadata[ServiceMetadata.direct],
    started,
    endpoints: info.endpoints.map((endpoint) => ({
      ...endpoint,
      stats: endpointStats?.find((s) => s.name === endpoint.name && s.subject === endpoint.subject),
    })),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
