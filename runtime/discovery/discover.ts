/**
 * The discovery client: asks `$SRV.PING|INFO|STATS[.<name>[.<id>]]` (NATS ADR-32) and collects
 * the replies of every instance that answers. What the `troupe` CLI lists and what direct calls
 * to one chosen instance start from.
 *
 * Replies are gathered with NATS `requestMany`: wait up to `timeoutMs` for the first, then stop
 * once no other arrives within `stallMs` (the strategy of the NATS tools). A name or id without
 * instances is answered at once by the server's "no responders" status and yields `[]`. With
 * an `id`, at most one instance can answer, so the first reply ends the wait.
 *
 * Replies from other ADR-32 implementations are normalised to Troupe's stricter types (a null
 * or missing `metadata` becomes `{}`, a missing `last_error` ""), so callers need no checks.
 * A reply that is not a valid response of the asked type is left out and reported to
 * `onMalformed`: one broken service must not hide all the others.
 */
import { Empty, type Msg, type NatsConnection, NoRespondersError } from "@nats-io/nats-core";
import { ServiceResponseType } from "@nats-io/services";
import { Header } from "../protocol/headers.ts";
import { ServiceVerb, serviceVerbSubject } from "../protocol/subjects.ts";
import type {
  EndpointInfo,
  EndpointStats,
  InfoResponse,
  PingResponse,
  StatsResponse,
} from "./service-responses.ts";

export interface DiscoverOptions {
  /** Only instances of this service; `undefined` asks every service. */
  readonly name: string | undefined;
  /** Only this instance (needs `name`). */
  readonly id: string | undefined;
  /** How long to wait for the first reply. */
  readonly timeoutMs: number;
  /** After a reply, how long to wait for another before the collection ends. */
  readonly stallMs: number;
  /** Told about each reply that was left out, and why. */
  readonly onMalformed: ((reason: string, msg: Msg) => void) | undefined;
}

export const defaultDiscoverOptions: DiscoverOptions = {
  name: undefined,
  id: undefined,
  timeoutMs: 2000,
  stallMs: 300,
  onMalformed: undefined,
};

/** Every answering instance's identity (`$SRV.PING`). */
export function pingServices(
  nc: NatsConnection,
  options: Partial<DiscoverOptions> = {},
): Promise<PingResponse[]> {
  return collect(nc, ServiceVerb.PING, options, ServiceResponseType.PING, (json) => ({
    ...json,
    ...identityOf(json, ServiceResponseType.PING),
  }));
}

/** Every answering instance's description and endpoints (`$SRV.INFO`). */
export function serviceInfos(
  nc: NatsConnection,
  options: Partial<DiscoverOptions> = {},
): Promise<InfoResponse[]> {
  return collect(nc, ServiceVerb.INFO, options, ServiceResponseType.INFO, (json) => ({
    ...json,
    ...identityOf(json, ServiceResponseType.INFO),
    description: stringOr(json.description, ""),
    endpoints: arrayOf(json.endpoints).map(
      (e): EndpointInfo => ({
        ...e,
        name: stringOr(e.name, ""),
        subject: stringOr(e.subject, ""),
        queue_group: stringOr(e.queue_group, ""),
        metadata: metadataOf(e.metadata),
      }),
    ),
  }));
}

/** Every answering instance's request statistics (`$SRV.STATS`). */
export function serviceStats(
  nc: NatsConnection,
  options: Partial<DiscoverOptions> = {},
): Promise<StatsResponse[]> {
  return collect(nc, ServiceVerb.STATS, options, ServiceResponseType.STATS, (json) => ({
    ...json,
    ...identityOf(json, ServiceResponseType.STATS),
    started: stringOr(json.started, ""),
    endpoints: arrayOf(json.endpoints).map(
      (e): EndpointStats => ({
        ...e,
        name: stringOr(e.name, ""),
        subject: stringOr(e.subject, ""),
        queue_group: stringOr(e.queue_group, ""),
        num_requests: numberOr(e.num_requests),
        num_errors: numberOr(e.num_errors),
        last_error: stringOr(e.last_error, ""),
        processing_time: numberOr(e.processing_time),
        average_processing_time: numberOr(e.average_processing_time),
      }),
    ),
  }));
}

type Json = Record<string, unknown>;

async function collect<T>(
  nc: NatsConnection,
  verb: ServiceVerb,
  partial: Partial<DiscoverOptions>,
  type: ServiceResponseType,
  normalise: (json: Json) => T,
): Promise<T[]> {
  const options: DiscoverOptions = { ...defaultDiscoverOptions, ...partial };
  if (options.id !== undefined && options.name === undefined) {
    throw new Error(`discovery of instance "${options.id}" needs the service name too`);
  }
  const subject = serviceVerbSubject(verb, options.name, options.id);
  const replies = await nc.requestMany(
    subject,
    Empty,
    options.id === undefined
      ? { strategy: "stall", maxWait: options.timeoutMs, stall: options.stallMs }
      : { strategy: "count", maxMessages: 1, maxWait: options.timeoutMs },
  );
  const results: T[] = [];
  try {
    for await (const msg of replies) {
      const json = parse(msg, type);
      if (typeof json === "string") options.onMalformed?.(json, msg);
      else results.push(normalise(json));
    }
  } catch (err) {
    // Nobody listens on the subject: no instance of that name (or id) exists.
    if (!(err instanceof NoRespondersError)) throw err;
  }
  return results;
}

/** The reply's JSON object, or why it cannot be used. */
function parse(msg: Msg, type: ServiceResponseType): Json | string {
  const error = msg.headers?.get(Header.serviceErrorCode);
  if (error !== undefined && error !== "") {
    return `error ${error}: ${msg.headers?.get(Header.serviceError) ?? ""}`;
  }
  let json: unknown;
  try {
    json = msg.json();
  } catch (err) {
    return `not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "not a JSON object";
  const record = json as Json;
  if (record.type !== type) return `type is ${JSON.stringify(record.type)}, not "${type}"`;
  if (typeof record.name !== "string" || typeof record.id !== "string") return "no name or id";
  return record;
}

function identityOf<K extends ServiceResponseType>(json: Json, type: K) {
  return {
    type,
    name: stringOr(json.name, ""),
    id: stringOr(json.id, ""),
    version: stringOr(json.version, ""),
    metadata: metadataOf(json.metadata),
  };
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" ? value : fallback;
}

function numberOr(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function arrayOf(value: unknown): Json[] {
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is Json => typeof v === "object" && v !== null && !Array.isArray(v));
}

/** ADR-32 metadata is a string map; the JSON schemas also allow null, which becomes {}. */
function metadataOf(value: unknown): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (typeof value !== "object" || value === null) return metadata;
  for (const [key, v] of Object.entries(value)) if (typeof v === "string") metadata[key] = v;
  return metadata;
}
