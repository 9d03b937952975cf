/**
 * A nats-server cluster on loopback routes, every member with JetStream and its own store, for
 * fault tests: stop or kill one member and the rest keep replicated streams writable.
 */
import { freePort } from "../platform/free-port.ts";
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
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
    return cluster;
  });
}
