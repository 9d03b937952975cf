/**
 * A nats-server cluster on loopback routes, every member with JetStream and its own store, for
 * fault tests: stop or kill one member and the rest keep replicated streams writable. With `tls`,
 * every member's client port speaks TLS (routes stay cleartext on loopback); mutual TLS is for
 * single servers only.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort } from "../platform/free-port.ts";
import { connect } from "../platform/nats-connect.ts";
import { createNatsServer, type NatsServer, type NatsServerOptions, withFreshPorts } from "./nats-server.ts";

export interface NatsClusterOptions extends NatsServerOptions {
  /** How many servers; 3 tolerates one down for R3 streams. */
  readonly size: number;
  /** The cluster's name (also the servers' name prefix). */
  readonly clusterName: string;
}

export const defaultNatsClusterOptions: Omit<NatsClusterOptions, keyof NatsServerOptions> = {
  size: 3,
  clusterName: "troupe",
};

export interface NatsCluster extends AsyncDisposable {
  readonly servers: readonly NatsServer[];
  /** Every member's client URL, for a connection that fails over between them. */
  readonly urls: readonly string[];
  /** Kills every member and removes every store. Idempotent. */
  dispose(): Promise<void>;
}

/** Starts `size` servers routed to each other and waits until JetStream is healthy on all. */
export async function startNatsCluster(options: Partial<NatsClusterOptions> = {}): Promise<NatsCluster> {
  const { size, clusterName, ...serverOptions } = { ...defaultNatsClusterOptions, ...options };
  const jetstream = serverOptions.jetstream ?? true;
  const tls = serverOptions.tls;
  if (tls?.verify === true) {
    // Its readiness check connects as a client, and the harness holds no client certificate.
    throw new Error("startNatsCluster does not support tls.verify (mutual TLS); startNatsServer does");
  }
  // Another process may take a probed port (a route port too) before a member binds it.
  return withFreshPorts(async () => {
    const ports: { port: number; monitorPort: number; clusterPort: number }[] = [];
    for (let i = 0; i < size; i++) {
      ports.push({ port: await freePort(), monitorPort: await freePort(), clusterPort: await freePort() });
    }
    const servers = await Promise.all(
      ports.map((own, i) =>
        createNatsServer(
          {
            port: own.port,
            monitorPort: own.monitorPort,
            cluster: {
              name: clusterName,
              port: own.clusterPort,
              routes: ports.filter((other) => other !== own).map((other) => other.clusterPort),
            },
          },
          { ...serverOptions, name: `${clusterName}-${i + 1}` },
        ),
      ),
    );
    const cluster: NatsCluster = {
      servers,
      urls: servers.map((s) => s.url),
      async dispose() {
        await Promise.all(servers.map((s) => s.dispose()));
      },
      [Symbol.asyncDispose]: () => cluster.dispose(),
    };
    try {
      // Members must start together: a JetStream cluster elects its meta leader only once a
      // majority is up, and each member's readiness waits for that.
      await Promise.all(servers.map((s) => s.start()));
      if (jetstream) await untilReplicasPlace(cluster.urls, Math.min(size, 3), tls?.caFile);
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
    return cluster;
  });
}

/**
 * Waits until the cluster places a replicated stream. Members that all report JetStream healthy
 * may still answer "no suitable peers for placement" for a moment, until the meta layer has heard
 * every peer; a test's first R3 stream (or an actor's) must not meet that.
 */
async function untilReplicasPlace(
  urls: readonly string[],
  replicas: number,
  caFile: string | undefined,
): Promise<void> {
  if (replicas < 2) return;
  const tls = urls.some((url) => url.startsWith("tls://"))
    ? { tls: caFile === undefined ? {} : { caFile } }
    : {};
  const nc = await connect({ servers: [...urls], ...tls });
  try {
    const name = "TROUPE_CLUSTER_READY";
    for (const until = Date.now() + 30_000; ; ) {
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name, subjects: ["troupe.cluster.ready"], num_replicas: replicas });
        await jsm.streams.delete(name);
        return;
      } catch (err) {
        if (!isTransientPlacement(err) || Date.now() > until) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await nc.close();
  }
}

/** What a forming JetStream cluster answers before its meta layer knows every peer. */
function isTransientPlacement(err: unknown): boolean {
  const text = String(err) + String((err as { cause?: unknown })?.cause ?? "");
  return /no suitable peers|no responders|jetstream is not enabled|timeout/i.test(text);
}
