/**
 * Test helpers: real, disposable nats-servers (single or clustered) that a test can stop,
 * restart and kill, and an in-memory SMTP sink. Import from "troupe/testing"; never from production code.
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
export {
  defaultSmtpSinkOptions,
  type MailHeader,
  type ReceivedMail,
  type SmtpReply,
  type SmtpSink,
  type SmtpSinkOptions,
  startSmtpSink,
} from "./testing/smtp-sink.ts";
