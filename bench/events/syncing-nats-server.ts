/**
 * The nats-server of the "troupe-sync" peer: the test harness's server with JetStream set up
 * here instead, to add `sync_interval: always`, so that nats-server fsyncs every write to its
 * store before it acknowledges a publish (https://docs.nats.io/running-a-nats-service/configuration#jetstream;
 * by default it syncs every 2 minutes). Otherwise as the driver's own: file store in a temporary
 * directory, at most 2 GB. Its store is removed with the server.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNatsServer } from "troupe/testing";

export interface SyncingNatsServer {
  readonly url: string;
  readonly version: string;
  dispose(): Promise<void>;
}

export async function startSyncingNatsServer(): Promise<SyncingNatsServer> {
  const storeDir = mkdtempSync(join(tmpdir(), "troupe-bench-sync-"));
  // The harness writes a jetstream block of its own when asked for JetStream, and a second block
  // would replace the first whole: so JetStream is off for the harness and configured here.
  const config = [
    "jetstream {",
    `  store_dir: ${JSON.stringify(storeDir)}`,
    "  max_memory_store: 256MB",
    "  max_file_store: 2GB",
    "  sync_interval: always",
    "}",
  ].join("\n");
  try {
    const server = await startNatsServer({ jetstream: false, config });
    return {
      url: server.url,
      version: server.version,
      async dispose() {
        await server.dispose();
        rmSync(storeDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(storeDir, { recursive: true, force: true });
    throw err;
  }
}
