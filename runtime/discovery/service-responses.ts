/**
 * The JSON bodies of the NATS service protocol (NATS ADR-32; JSON schemas
 * `io.nats.micro.v1.ping_response`, `info_response`, `stats_response`), as Troupe sends them and
 * as its discovery client returns them. They extend the official `@nats-io/services` types, so
 * every value here is also a valid value of those, but they are stricter where ADR-32 is:
 * `metadata` is always an object (possibly empty, never null or absent), `endpoints` is always
 * an array, and every endpoint reports its `queue_group` and `last_error` ("" when none).
 */
import type {
  EndpointInfo as NatsEndpointInfo,
  NamedEndpointStats as NatsEndpointStats,
  ServiceIdentity as NatsServiceIdentity,
  ServiceInfo as NatsServiceInfo,
  ServiceStats as NatsServiceStats,
  ServiceResponseType,
} from "@nats-io/services";

/** `$SRV.PING` reply: the standard fields only. */
export interface PingResponse extends NatsServiceIdentity {
  type: ServiceResponseType.PING;
  metadata: Record<string, string>;
}

/** One endpoint in a `$SRV.INFO` reply. */
export interface EndpointInfo extends NatsEndpointInfo {
  /** The subject the endpoint listens on: `rpc.shop.v1.UserService.GetUser`. */
  subject: string;
  /** The queue group its instances share (the actor's name); "" for a plain subscription. */
  queue_group: string;
  metadata: Record<string, string>;
}

/** `$SRV.INFO` reply. */
export interface InfoResponse extends NatsServiceInfo {
  type: ServiceResponseType.INFO;
  metadata: Record<string, string>;
  description: string;
  endpoints: EndpointInfo[];
}

/** One endpoint in a `$SRV.STATS` reply; times in nanoseconds. */
export interface EndpointStats extends NatsEndpointStats {
  queue_group: string;
  /** The last error's message, or "" when there has been none. */
  last_error: string;
  /** Whatever the responder's `statsData` hook returned; absent without one. */
  data?: unknown;
}

/** `$SRV.STATS` reply. */
export interface StatsResponse extends NatsServiceStats {
  type: ServiceResponseType.STATS;
  metadata: Record<string, string>;
  /** When the instance started: RFC 3339 in UTC (`2026-11-26T05:09:00.000Z`). */
  started: string;
  endpoints: EndpointStats[];
  /** Troupe's instance-wide statistics (the responder's `instanceData` hook); absent without one. */
  data?: unknown;
}
