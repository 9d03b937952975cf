/**
 * The Moleculer nodes of the benchmarks: a `ServiceBroker` (Moleculer 0.15) on the benchmark's
 * nats-server through Moleculer's NATS transporter (the `nats` v2 package), with every other
 * option Moleculer's default (JSON serializer, its own balancer, no metrics or tracing) but its
 * log level: warnings and errors only, which its console logger writes to stderr, where the driver
 * shows them when a measurement fails (a broker's fatal error ends the process, and with no logger
 * it would end without a word). Started with the given services; a client node waits until the
 * services it calls are known.
 */
import { ServiceBroker, type ServiceSchema } from "moleculer";

export async function startBroker(
  natsUrl: string,
  services: readonly ServiceSchema[],
  waitFor: readonly string[] = [],
): Promise<ServiceBroker> {
  const broker = new ServiceBroker({
    transporter: { type: "NATS", options: { url: natsUrl } },
    logLevel: "warn",
  });
  for (const service of services) broker.createService(service);
  await broker.start();
  if (waitFor.length > 0) await broker.waitForServices([...waitFor]);
  return broker;
}
