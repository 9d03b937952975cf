/**
 * Test helpers: real, disposable nats-servers (single or clustered) that a test can stop,
 * restart and kill. Import from "troupe/testing" (the SMTP sink is "troupe/testing/smtp"); never from production code.
 */

export type { ExitStatus } from "../platform/spawn-process.ts";
export {
  findNatsServer,
  type NatsServerBinary,
} from "./find-nats-server.ts";
export {
  defaultNatsClusterOptions,
  type NatsCluster,
  type NatsClusterOptions,
  startNatsCluster,
} from "./nats-cluster.ts";
export {
  defaultNatsServerOptions,
  type NatsServer,
  type NatsServerOptions,
  type NatsServerTls,
  startNatsServer,
} from "./nats-server.ts";
export { reapStaleServers } from "./reap-stale-servers.ts";
export { type SecuredNatsServer, startSecuredNatsServer } from "./secured-nats-server.ts";
