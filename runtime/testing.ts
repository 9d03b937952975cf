/**
 * Test helpers: real, disposable nats-servers (single or clustered) that a test can stop,
 * restart and kill. Import from "troupe/testing"; never from production code.
 */

export type { ExitStatus } from "./platform/spawn-process.ts";
export {
  findNatsServer,
  type NatsServerBinary,
} from "./testing/find-nats-server.ts";
export {
  defaultNatsClusterOptions,
  type NatsCluster,
  type NatsClusterOptions,
  startNatsCluster,
} from "./testing/nats-cluster.ts";
export {
  defaultNatsServerOptions,
  type NatsServer,
  type NatsServerOptions,
  startNatsServer,
} from "./testing/nats-server.ts";
export { reapStaleServers } from "./testing/reap-stale-servers.ts";
