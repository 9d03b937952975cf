/**
 * The routing records of a system (docs/adr/0012-discovery-direct-calls-and-traffic.md): one JSON
 * record per proto service in the KV bucket `troupe_routes` (namespaced: `acme_troupe_routes`),
 * keyed by the service's type name. Writers `put` a record; callers `watchRoutes()` and hand the
 * result to `createNatsTransport({ routes })`, which then splits calls by the weights as they
 * stand: a changed record applies to the next call, with no restart.
 *
 *   const routes = await openRouteStore(nc);
 *   const revision = await routes.put(PaymentService, { weights: { "1.0.0": 90, "1.1.0": 10 } });
 *   const table = await routes.watchRoutes(); // resolves with every record applied
 *   await table.applied(revision);            // this write is in effect
 *
 * A record that is not valid (written by hand with `nats kv put`) is reported to `onInvalid`
 * and the previous record of that service stays in effect: a typo must not reroute traffic.
 */
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  compileRoute,
  decodeRoute,
  encodeRoute,
  type RouteRecord,
  type RouteTable,
  type ServiceRoute,
} from "../protocol/route-record.ts";
import { routesBucketName } from "../protocol/subjects.ts";
import { retryDeclaration } from "./declare-streams.ts";
import { defaultReplicas } from "./default-replicas.ts";
import { stateError } from "./jetstream-errors.ts";
import { checkStateKey } from "./state-keys.ts";
import { reconcileBucket } from "./state-reconcile.ts";

export interface RouteStoreOptions {
  /** Prefixes the bucket name, as it prefixes subjects. */
  readonly namespace: string;
  /** Copies of the bucket in a JetStream cluster: 1, 3 or 5 (unset: the connection's default, default-replicas.ts). */
  readonly replicas: number;
}

export const defaultRouteStoreOptions: RouteStoreOptions = { namespace: "", replicas: 1 };

export interface WatchRoutesOptions {
  /** Told about a stored record that is not valid; the service keeps its previous route. */
  readonly onInvalid: (service: string, reason: string) => void;
}

export const defaultWatchRoutesOptions: WatchRoutesOptions = { onInvalid: () => {} };

/** The records as a watch last saw them; what a transport routes by. */
export interface WatchedRoutes extends RouteTable {
  /** The revision of the last change applied (0 before any). */
  readonly revision: number;
  /** Resolves once the change of `revision` (or a later one) is applied. */
  applied(revision: number): Promise<void>;
  stop(): void;
}

export interface RouteStore {
  readonly bucket: string;
  /** The record of a service, or undefined. */
  get(service: DescService | string): Promise<RouteRecord | undefined>;
  /** Writes a service's record (checked first: `invalid_argument`); returns its revision. */
  put(service: DescService | string, record: RouteRecord): Promise<number>;
  /** Removes a service's record (its calls go to any instance again); returns the revision. */
  delete(service: DescService | string): Promise<number>;
  /** Follows every record; resolves once the records stored now are applied. */
  watchRoutes(options?: Partial<WatchRoutesOptions>): Promise<WatchedRoutes>;
}

export async function openRouteStore(
  nc: NatsConnection,
  partial: Partial<RouteStoreOptions> = {},
): Promise<RouteStore> {
  const options = {
    ...defaultRouteStoreOptions,
    ...partial,
    replicas: partial.replicas ?? defaultReplicas(nc),
  };
  const bucket = routesBucketName(options.namespace);
  const limits = { history: 5, ttl: 0, replicas: options.replicas };
  let kv: KV;
  try {
    // Leader reads (no direct gets): on a cluster a direct get may be answered by a replica
    // that has not applied the latest write, and state decides on what it reads (ADR 0020).
    kv = await retryDeclaration(() => new Kvm(nc).create(bucket, { ...limits, allow_direct: false }));
    await retryDeclaration(() => reconcileBucket(nc, bucket, limits));
  } catch (err) {
    throw stateError(err, `routes bucket ${bucket}`, true);
  }
  const keyOf = (service: DescService | string) =>
    checkStateKey(typeof service === "string" ? service : service.typeName, bucket);
  const where = (key: string) => `routes bucket ${bucket}, key "${key}"`;

  return {
    bucket,

    async get(service) {
      const key = keyOf(service);
      const entry = await kv.get(key).catch((err: unknown) => {
        throw stateError(err, where(key));
      });
      if (entry === null || entry.operation !== "PUT") return undefined;
      return decodeRoute(entry.value).record;
    },

    async put(service, record) {
      const key = keyOf(service);
      try {
        compileRoute(record);
      } catch (err) {
        throw new ConnectError(`${where(key)}: ${(err as Error).message}`, Code.InvalidArgument);
      }
      return kv.put(key, encodeRoute(record)).catch((err: unknown) => {
        throw stateError(err, where(key));
      });
    },

    async delete(service) {
      const key = keyOf(service);
      await kv.delete(key).catch((err: unknown) => {
        throw stateError(err, where(key));
      });
      // The delete marker's revision: what `applied` waits for.
      const status = await kv.status();
      return status.streamInfo.state.last_seq;
    },

    async watchRoutes(partialWatch = {}) {
      const { onInvalid } = { ...defaultWatchRoutesOptions, ...partialWatch };
      const routes = new Map<string, ServiceRoute>();
      const waiters = new Set<{ revision: number; resolve: () => void }>();
      let revision = 0;
      // Every record stored now has a revision up to the stream's last sequence: once the watch
      // has passed it, the table holds them all.
      const initial = (await kv.status()).streamInfo.state.last_seq;
      const entries = await kv.watch({ key: ">" }).catch((err: unknown) => {
        throw stateError(err, `routes bucket ${bucket}`);
      });
      const table: WatchedRoutes = {
        get revision() {
          return revision;
        },
        routeOf: (service) => routes.get(service),
        applied(wanted) {
          if (revision >= wanted) return Promise.resolve();
          return new Promise((resolve) => waiters.add({ revision: wanted, resolve }));
        },
        stop: () => entries.stop(),
      };
      void (async () => {
        for await (const entry of entries) {
          if (entry.operation === "PUT") {
            try {
              routes.set(entry.key, decodeRoute(entry.value));
            } catch (err) {
              onInvalid(entry.key, (err as Error).message);
            }
          } else {
            routes.delete(entry.key);
          }
          revision = Math.max(revision, entry.revision);
          for (const waiter of [...waiters]) {
            if (revision < waiter.revision) continue;
            waiters.delete(waiter);
            waiter.resolve();
          }
        }
      })().catch(() => {
        // The connection closed under the watch: the table keeps the records it last saw.
      });
      await table.applied(initial);
      return table;
    },
  };
}
