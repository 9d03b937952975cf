/**
 * The Troupe servers of the benchmarks: an actor of the given name and services, declared with
 * `defineActor` and served by `serveActor` (the runtime's public API, silent logger) on its own
 * connection to the benchmark's nats-server (over TLS for a `tls://` URL). Its "ready" target is that NATS URL; closing
 * drains the actor, then the connection.
 */
import {
  type ActorDefinition,
  connect,
  defineActor,
  type ServeActorOptions,
  serveActor,
  silentLogger,
} from "troupe";
import { natsTlsOptions } from "./nats-tls.ts";
import type { RunningPeer } from "./serve-peer.ts";

/** How long closing lets calls in progress finish. */
const DRAIN_MS = 1_000;

export async function serveActorPeer(
  natsUrl: string,
  actor: Pick<ActorDefinition, "name" | "description" | "serves" | "services">,
  options: Partial<ServeActorOptions> = {},
): Promise<RunningPeer> {
  const nc = await connect({ servers: natsUrl, ...natsTlsOptions(natsUrl) });
  const running = await serveActor(nc, defineActor({ ...actor, version: "0.0.0" }), {
    logger: silentLogger,
    ...options,
  });
  return {
    target: natsUrl,
    close: async () => {
      await running.drain(DRAIN_MS);
      await nc.close();
    },
  };
}
