/**
 * The nats-server faults of the two topologies.
 *
 * - single: troupe dev's own nats-server (store in `<data dir>/nats`). A pause is SIGSTOP, a few
 *   seconds, SIGCONT. A restart is SIGTERM and a new nats-server on the same config (same port,
 *   same store): troupe dev does not restart its nats-server, so the suite starts the new one
 *   and owns it (it stops it itself after troupe dev has stopped, and says so in the report).
 * - cluster: three nodes of `startNatsCluster` (troupe/testing) that troupe dev is pointed at
 *   with --nats-url. A pause is SIGSTOP/SIGCONT of one node; a restart is the harness's
 *   `restart()` (same port and store); a kill is SIGKILL of one node, started again after a while.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findNatsServer, type NatsCluster, type NatsServer } from "troupe/testing";
import { onProcessExit } from "../../runtime/platform/exit-hooks.ts";
import { type ChildProcess, processRunning, spawnProcess } from "../../runtime/platform/spawn-process.ts";
import type { DevShop } from "./dev-shop.ts";
import { type Fault, sleep } from "./faults.ts";

export interface NatsFaults {
  readonly faults: readonly Fault[];
  /** Lifts whatever is still in force (a pause, a node down) after the load. */
  restore(): Promise<void>;
  /** Pids of nats-servers the suite started itself (not troupe dev's). */
  ownPids(): number[];
  /** Stops what the suite started itself. */
  dispose(): Promise<void>;
}

function pause(pid: number, ms: number): Promise<string> {
  process.kill(pid, "SIGSTOP");
  return sleep(ms).then(() => {
    process.kill(pid, "SIGCONT");
    return `pid ${pid} stopped for ${(ms / 1000).toFixed(1)} s, then continued`;
  });
}

/** Faults of troupe dev's own nats-server. */
export function singleServerFaults(dev: DevShop, pauseMs: number): NatsFaults {
  const dir = join(dev.dataDir, "nats");
  const configPath = join(dir, "nats-server.conf");
  let pid = dev.state().natsServerPid ?? -1;
  let own: ChildProcess | undefined;
  const owned: ChildProcess[] = [];
  // If the suite ends first (Ctrl-C), the servers it started end with it.
  const unregister = onProcessExit(() => {
    for (const child of owned) child.kill("SIGKILL");
  });

  const restart = async (): Promise<string> => {
    const old = pid;
    const stoppedAt = Date.now();
    process.kill(old, "SIGTERM");
    for (let waited = 0; processRunning(old); waited += 50) {
      if (waited > 10_000) process.kill(old, "SIGKILL");
      await sleep(50);
    }
    const binary = await findNatsServer();
    own = spawnProcess(binary.path, ["-c", configPath], { detached: true, maxOutputChars: 16 * 1024 });
    owned.push(own);
    pid = own.pid;
    await waitHealthy(monitorUrlOf(configPath), own);
    return `pid ${old} stopped (SIGTERM); pid ${pid} on the same port and store healthy ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s later`;
  };

  return {
    faults: [
      { kind: "pause nats-server", target: "troupe dev's nats-server", inject: () => pause(pid, pauseMs) },
      { kind: "restart nats-server", target: "troupe dev's nats-server", inject: restart },
    ],
    async restore() {
      if (processRunning(pid)) process.kill(pid, "SIGCONT");
    },
    ownPids: () => owned.map((c) => c.pid),
    async dispose() {
      for (const child of owned) {
        child.kill("SIGTERM");
        await child.exited;
      }
      unregister();
    },
  };
}

/** Faults of a 3-node cluster: a different node for each kind of fault. */
export function clusterFaults(cluster: NatsCluster, pauseMs: number, nodeDownMs: number): NatsFaults {
  const [first, second, third] = cluster.servers as [NatsServer, NatsServer, NatsServer];
  const down = new Set<NatsServer>();
  return {
    faults: [
      {
        kind: "pause nats-server",
        target: `node ${first.name}`,
        inject: () => pause(first.pid ?? -1, pauseMs),
      },
      {
        kind: "restart nats-server",
        target: `node ${second.name}`,
        async inject() {
          const at = Date.now();
          const old = second.pid;
          await second.restart();
          return `pid ${old} stopped (SIGTERM); pid ${second.pid} healthy ${((Date.now() - at) / 1000).toFixed(1)} s later`;
        },
      },
      {
        kind: "SIGKILL nats-server",
        target: `node ${third.name}`,
        async inject() {
          const old = third.pid;
          down.add(third);
          await third.kill();
          await sleep(nodeDownMs);
          const at = Date.now();
          await third.start();
          down.delete(third);
          return `pid ${old} SIGKILLed; down ${(nodeDownMs / 1000).toFixed(1)} s; pid ${third.pid} healthy ${((Date.now() - at) / 1000).toFixed(1)} s after its start`;
        },
      },
    ],
    async restore() {
      for (const server of cluster.servers) if (server.pid !== undefined) process.kill(server.pid, "SIGCONT");
      for (const server of down) await server.start();
    },
    ownPids: () => [],
    async dispose() {
      await cluster.dispose();
    },
  };
}

function monitorUrlOf(configPath: string): string {
  const match = /^http: "([^"]+)"/m.exec(readFileSync(configPath, "utf8"));
  if (match === null) throw new Error(`no monitoring port in ${configPath}`);
  return `http://${match[1]}`;
}

async function waitHealthy(monitorUrl: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitStatus !== undefined) throw new Error(`nats-server exited at start:\n${child.output()}`);
    try {
      const res = await fetch(`${monitorUrl}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nats-server not healthy within 30 s:\n${child.output()}`);
    await sleep(100);
  }
}
