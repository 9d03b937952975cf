/**
 * Direct calls after discovery (docs/adr/0012-discovery-direct-calls-and-traffic.md): finds the
 * instances that serve a proto service through `$SRV`, picks one per call (pick-instance.ts) and
 * calls it on its own subjects, so the call reaches that instance and no other.
 *
 *   const payments = createDirectCaller(nc, PaymentService, { strategy: "fastest" });
 *   const { payment } = await payments.call(PaymentService.method.getPayment, (client, instance) =>
 *     client.getPayment({ id }),
 *   );
 *
 * The instance list is asked again once it is older than `discoveryTtlMs`, and at once when a
 * chosen instance is gone (the call fails `unavailable`: NATS "no responders"). Then another
 * instance is tried, up to `attempts` in all, but only for methods declared safe to repeat
 * (`idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT): `unavailable` does not say whether the
 * first instance ran the call. No instance at all is `unavailable`.
 *
 * With `byAddress: true`, an instance that advertises an address (`troupe.direct`) is called over
 * a TCP connection to it instead of through nats-server (docs/adr/0031-direct-calls-by-address.md):
 * one connection per instance, kept while it is discovered, falling back to NATS whenever the
 * address cannot take a call. Streaming calls stay on NATS.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  createDirectChannel,
  type DirectChannel,
  type DirectChannelOptions,
} from "../transports/direct-channel.ts";
import { createNatsTransport, type NatsTransportOptions } from "../transports/nats-transport.ts";
import { type DiscoverServiceOptions, discoverServing, type ServiceInstance } from "./discover-service.ts";
import { type PickStrategy, pickInstance } from "./pick-instance.ts";

export interface DirectCallerOptions {
  readonly strategy: PickStrategy;
  /** How long a discovered instance list is used before it is asked again. */
  readonly discoveryTtlMs: number;
  /** Instances tried per call, when the method may be repeated. */
  readonly attempts: number;
  /** Options of the per-instance transports (namespace, timeout, codec …). */
  readonly transport: Partial<Omit<NatsTransportOptions, "nc" | "target">>;
  /** Options of the `$SRV` requests. */
  readonly discover: Partial<Omit<DiscoverServiceOptions, "stats">>;
  /**
   * Call an instance at the address it advertises, over TCP, rather than through nats-server;
   * instances without one are called over NATS.
   */
  readonly byAddress: boolean;
  /** Options of the TCP connections of `byAddress`. */
  readonly direct: Partial<DirectChannelOptions>;
}

export const defaultDirectCallerOptions: DirectCallerOptions = {
  strategy: "fastest",
  discoveryTtlMs: 5_000,
  attempts: 2,
  transport: {},
  discover: {},
  byAddress: false,
  direct: {},
};

export interface DirectCaller<S extends DescService> {
  /**
   * Runs `fn` with a client bound to one chosen instance of the service; `method` is the method
   * `fn` calls (to pick by its stats and to know whether it may be repeated).
   */
  call<T>(method: DescMethod, fn: (client: Client<S>, instance: ServiceInstance) => Promise<T>): Promise<T>;
  /** The instances as last discovered, asking again if that was longer than the TTL ago. */
  instances(): Promise<readonly ServiceInstance[]>;
  /** With `byAddress`: the TCP channel of each instance called so far, by instance id. */
  channels(): ReadonlyMap<string, DirectChannel>;
  /** Closes the TCP channels of `byAddress`. */
  close(): void;
}

export function createDirectCaller<S extends DescService>(
  nc: NatsConnection,
  service: S,
  partial: Partial<DirectCallerOptions> = {},
): DirectCaller<S> {
  const options = { ...defaultDirectCallerOptions, ...partial };
  if (!(options.attempts >= 1)) throw new RangeError("createDirectCaller: attempts must be >= 1");
  const namespace = options.transport.namespace ?? "";
  const clients = new Map<string, Client<S>>();
  const channels = new Map<string, DirectChannel>();
  let known: { instances: readonly ServiceInstance[]; at: number } | undefined;

  // One discovery at a time: the calls that find the list out of date (64 in flight, say) wait
  // for the same answer instead of each asking every instance for its stats.
  let asking: Promise<readonly ServiceInstance[]> | undefined;
  const ask = async (): Promise<readonly ServiceInstance[]> => {
    const instances = await discoverServing(nc, service, {
      ...options.discover,
      stats: options.strategy === "fastest",
    });
    known = { instances, at: performance.now() };
    for (const id of clients.keys()) if (!instances.some((i) => i.id === id)) clients.delete(id);
    for (const [id, channel] of channels) {
      if (instances.some((i) => i.id === id)) continue;
      channel.close();
      channels.delete(id);
    }
    return instances;
  };
  const discover = (): Promise<readonly ServiceInstance[]> => {
    asking ??= ask().finally(() => {
      asking = undefined;
    });
    return asking;
  };
  const instances = async () =>
    known !== undefined && performance.now() - known.at < options.discoveryTtlMs
      ? known.instances
      : discover();
  const clientOf = (instance: ServiceInstance): Client<S> => {
    let client = clients.get(instance.id);
    if (client === undefined) {
      let replies: DirectChannel | undefined;
      if (options.byAddress && instance.address !== undefined) {
        replies = createDirectChannel(nc, instance.address, options.direct);
        channels.set(instance.id, replies);
      }
      const transport = createNatsTransport({
        ...options.transport,
        nc,
        target: { instance: instance.id },
        replies,
      });
      client = createClient(service, transport);
      clients.set(instance.id, client);
    }
    return client;
  };

  return {
    instances,
    channels: () => channels,
    close() {
      for (const channel of channels.values()) channel.close();
      channels.clear();
      clients.clear();
    },
    async call(method, fn) {
      const repeatable = method.idempotency !== 0; // IDEMPOTENCY_UNKNOWN
      const failed = new Set<string>();
      let list = await instances();
      for (let attempt = 1; ; attempt++) {
        let chosen = pickInstance(list, method, { strategy: options.strategy, namespace, exclude: failed });
        if (chosen === undefined && attempt === 1 && list.length === 0) {
          // Nothing known: the list may predate the instances; ask once more before giving up.
          list = await discover();
          chosen = pickInstance(list, method, { strategy: options.strategy, namespace, exclude: failed });
        }
        if (chosen === undefined) {
          throw new ConnectError(
            `no instance of ${service.typeName} serves ${method.name}`,
            Code.Unavailable,
          );
        }
        try {
          return await fn(clientOf(chosen), chosen);
        } catch (err) {
          const gone = err instanceof ConnectError && err.code === Code.Unavailable;
          if (!gone) throw err;
          failed.add(chosen.id);
          list = await discover();
          if (!repeatable || attempt >= options.attempts) throw err;
        }
      }
    },
  };
}
