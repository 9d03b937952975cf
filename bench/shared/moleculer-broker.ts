/**
 * The Moleculer nodes of the benchmarks: a `ServiceBroker` (Moleculer 0.15) on the benchmark's
 * nats-server through Moleculer's NATS transporter (the `nats` v2 package), with every other
 * option Moleculer's default (JSON serializer, its own balancer, no metrics or tracing) and its
 * logger off, like the other peers' silent loggers. Started with the given services; a client
 * node waits until the services it calls are known.
 */
import { type ServiceBroker as Broker, ServiceBroker, type ServiceSchema } from "moleculer";

export async function startBroker(
  natsUrl: string,
  services: readonly ServiceSchema[],
  waitFor: readonly string[] = [],
): Promise<Broker> {
  const broker = new ServiceBroker({
    transporter: { type: "NATS", options: { url: natsUrl } },
    logger: false,
  });
  for (const service of services) broker.createService(service);
  await broker.start();
  if (waitFor.length > 0) await broker.waitForServices([...waitFor]);
  return broker;
}
