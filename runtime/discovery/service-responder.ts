/**
 * Answers the NATS service protocol ($SRV, NATS ADR-32) for one actor instance, so that
 * `nats micro ls|info|stats`, the `@nats-io/services` client and Troupe's own discovery
 * (discover.ts) see it.
 *
 * Our own responder rather than `@nats-io/services`: that package makes one subscription per
 * endpoint and measures handlers itself (only their synchronous part, counting only synchronous
 * throws), while Troupe serves each proto service with one queue subscription and reports one
 * endpoint per RPC method, measured by the host (see docs/adr/0005-discovery-with-srv.md). The
 * responder only answers discovery; the endpoints and their stats come from `ServiceSource`.
 *
 * Nine plain subscriptions (no queue group: every instance answers):
 * `$SRV.<VERB>`, `$SRV.<VERB>.<name>` and `$SRV.<VERB>.<name>.<id>` for PING, INFO and STATS.
 */
import { headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { ServiceResponseType } from "@nats-io/services";
import type { EndpointStatsRecorder } from "../observability/endpoint-stats.ts";
import { Header } from "../protocol/headers.ts";
import { ServiceVerb, serviceVerbSubject } from "../protocol/subjects.ts";
import {
  resolveServiceIdentity,
  SERVICE_NAME_PATTERN,
  type ServiceIdentity,
  type ServiceIdentityInit,
} from "./service-identity.ts";
import type {
  EndpointInfo,
  EndpointStats,
  InfoResponse,
  PingResponse,
  StatsResponse,
} from "./service-responses.ts";

/** One endpoint as discovery reports it: for Troupe, one RPC method. */
export interface EndpointDescription {
  /** ADR-32 endpoint name (`[A-Za-z0-9_-]+`); see endpointNameOf() in endpoint-name.ts. */
  readonly name: string;
  /** The subject it is served on: `rpc.shop.v1.UserService.GetUser`. */
  readonly subject: string;
  /** The queue group its instances share (the actor's name); "" for none. */
  readonly queueGroup: string;
  /** See EndpointMetadata in metadata-keys.ts. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Where the host records each request. */
  readonly stats: EndpointStatsRecorder;
}

/** Where the responder reads what it reports; asked on every INFO and STATS request. */
export interface ServiceSource {
  /** The endpoints now served, including ones added after start. */
  endpoints(): readonly EndpointDescription[];
  /**
   * Extra statistics for an endpoint, sent as its `data` field in STATS (must serialize to
   * JSON); `undefined` leaves the field out.
   */
  statsData?: (endpointName: string, endpoint: EndpointDescription) => unknown;
  /**
   * Statistics of the instance as a whole (a Troupe extension of ADR-32): sent as the top-level
   * `data` field of STATS, e.g. the circuit states of its outgoing calls; `undefined` leaves it out.
   */
  instanceData?: () => unknown;
  /**
   * Runs before each STATS answer is built, which waits until it settles (a rejection is ignored):
   * a chance to refresh figures read elsewhere, such as a consumer's lag from JetStream. It should
   * bound its own wait: askers stop collecting answers soon (discover.ts `stallMs`).
   */
  prepareStats?: () => Promise<void> | undefined;
}

export interface ServiceResponder {
  /** The instance id, unique per instance: `$SRV.<VERB>.<name>.<id>` addresses this one. */
  readonly id: string;
  readonly identity: ServiceIdentity;
  /** When the responder started, RFC 3339 in UTC: the `started` field of STATS. */
  readonly started: string;
  /**
   * Settles once the responder no longer answers: `null` after stop() or when the connection
   * closed, the error when a subscription failed (e.g. a permissions violation), in which case
   * the responder has left discovery altogether rather than answer only some requests.
   */
  readonly stopped: Promise<Error | null>;
  ping(): PingResponse;
  info(): InfoResponse;
  stats(): StatsResponse;
  /** Resets every endpoint's statistics (ADR-32 `reset()`). */
  reset(): void;
  /**
   * Leaves discovery: drains the nine subscriptions (requests already received are answered).
   * When it resolves the server no longer routes $SRV requests here. Idempotent.
   */
  stop(): Promise<void>;
}

const VERBS: readonly ServiceVerb[] = [ServiceVerb.PING, ServiceVerb.INFO, ServiceVerb.STATS];

/**
 * Starts answering $SRV requests for `identity` on `nc`. Rejects with a clear error when the
 * name, version, id, metadata or an endpoint name is invalid, or when the server refuses one
 * of the subscriptions (nothing stays subscribed then).
 */
export async function startServiceResponder(
  nc: NatsConnection,
  init: ServiceIdentityInit,
  source: ServiceSource,
): Promise<ServiceResponder> {
  const identity = resolveServiceIdentity(init);
  for (const endpoint of source.endpoints()) assertEndpoint(endpoint, identity.name);
  const started = new Date().toISOString();

  const ping = (): PingResponse => ({
    type: ServiceResponseType.PING,
    name: identity.name,
    id: identity.id,
    version: identity.version,
    metadata: { ...identity.metadata },
  });

  const info = (): InfoResponse => ({
    type: ServiceResponseType.INFO,
    name: identity.name,
    id: identity.id,
    version: identity.version,
    metadata: { ...identity.metadata },
    description: identity.description,
    endpoints: source.endpoints().map(
      (e): EndpointInfo => ({
        name: e.name,
        subject: e.subject,
        queue_group: e.queueGroup,
        metadata: { ...e.metadata },
      }),
    ),
  });

  const stats = (): StatsResponse => {
    const data = source.instanceData?.();
    return {
      type: ServiceResponseType.STATS,
      name: identity.name,
      id: identity.id,
      version: identity.version,
      metadata: { ...identity.metadata },
      started,
      endpoints: source.endpoints().map((e): EndpointStats => {
        const data = source.statsData?.(e.name, e);
        return {
          name: e.name,
          subject: e.subject,
          queue_group: e.queueGroup,
          ...e.stats.snapshot(),
          ...(data === undefined ? {} : { data }),
        };
      }),
      ...(data === undefined ? {} : { data }),
    };
  };

  // The identity is immutable, so the PING body is encoded once.
  const pingBody = JSON.stringify(ping());
  const bodyOf: Record<ServiceVerb, () => string> = {
    PING: () => pingBody,
    INFO: () => JSON.stringify(info()),
    STATS: () => JSON.stringify(stats()),
  };

  let resolveStopped: (result: Error | null) => void = () => {};
  const stopped = new Promise<Error | null>((resolve) => {
    resolveStopped = resolve;
  });
  const subscriptions: Subscription[] = [];
  let failure: Error | undefined;
  let stopping: Promise<void> | undefined;

  const fail = (err: Error, subject: string) => {
    if (failure !== undefined) return;
    failure = new Error(
      `service "${identity.name}" (${identity.id}) cannot answer discovery on ${subject}: ${err.message}`,
      { cause: err },
    );
    for (const sub of subscriptions) sub.unsubscribe();
    resolveStopped(failure);
  };

  for (const verb of VERBS) {
    const body = bodyOf[verb];
    for (const subject of [
      serviceVerbSubject(verb),
      serviceVerbSubject(verb, identity.name),
      serviceVerbSubject(verb, identity.name, identity.id),
    ]) {
      const prepare = verb === ServiceVerb.STATS ? source.prepareStats : undefined;
      const callback = (err: Error | null, msg: Msg) => {
        if (err !== null) fail(err, subject);
        else if (prepare === undefined) answer(msg, body);
        else {
          const pending = prepare();
          if (pending === undefined) answer(msg, body);
          else {
            // Answered later: the connection may have closed meanwhile, which ends the matter.
            const later = () => {
              try {
                answer(msg, body);
              } catch {}
            };
            void pending.then(later, later);
          }
        }
      };
      subscriptions.push(nc.subscribe(subject, { callback }));
    }
  }
  // The server has seen the subscriptions (or refused them) once it answers the flush's PING.
  await nc.flush();
  if (failure !== undefined) {
    // Make sure the server has seen the unsubscriptions before the caller hears of the failure.
    await nc.flush().catch(() => {});
    throw failure;
  }
  void Promise.all(subscriptions.map((sub) => sub.closed)).then(() => resolveStopped(null));

  return {
    id: identity.id,
    identity,
    started,
    stopped,
    ping,
    info,
    stats,
    reset() {
      for (const endpoint of source.endpoints()) endpoint.stats.reset();
    },
    stop() {
      stopping ??= Promise.all(subscriptions.map((sub) => sub[Symbol.asyncDispose]())).then(() => {
        resolveStopped(failure ?? null);
      });
      return stopping;
    },
  };
}

function assertEndpoint(endpoint: EndpointDescription, service: string): void {
  if (!SERVICE_NAME_PATTERN.test(endpoint.name)) {
    throw new Error(
      `endpoint name "${endpoint.name}" of service "${service}" is not valid: a NATS endpoint ` +
        `name (ADR-32) may only contain A-Z, a-z, 0-9, "-" and "_" (see endpointNameOf())`,
    );
  }
  if (endpoint.subject === "") {
    throw new Error(`endpoint "${endpoint.name}" of service "${service}" has no subject`);
  }
}

/**
 * Sends the body; if building it failed (a throwing `statsData` hook), answers with the ADR-32
 * error headers instead, so the asker gets an error rather than a timeout.
 */
function answer(msg: Msg, body: () => string): void {
  let text: string;
  try {
    text = body();
  } catch (err) {
    const hdrs = headers();
    hdrs.set(Header.serviceErrorCode, "500");
    hdrs.set(
      Header.serviceError,
      (err instanceof Error ? err.message : String(err)).replace(/[\r\n]+/g, " "),
    );
    msg.respond(undefined, { headers: hdrs });
    return;
  }
  msg.respond(text);
}
