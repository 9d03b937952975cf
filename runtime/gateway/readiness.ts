/**
 * `/readyz`: the gateway is ready once every service it fronts has at least one actor instance
 * answering `$SRV.PING` (NATS ADR-32) whose `troupe.services` metadata names it.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { pingServices } from "../discovery/discover.ts";
import { parseServiceList, ServiceMetadata } from "../discovery/metadata-keys.ts";

export interface Readiness {
  readonly ready: boolean;
  /** Fronted proto services without an answering instance: `shop.v1.PaymentService`. */
  readonly missing: readonly string[];
  /** Answering instances per fronted proto service. */
  readonly instances: Readonly<Record<string, number>>;
}

export async function checkReadiness(
  nc: NatsConnection,
  services: readonly DescService[],
  timeoutMs: number,
): Promise<Readiness> {
  const instances: Record<string, number> = {};
  for (const service of services) instances[service.typeName] = 0;
  if (!nc.isClosed()) {
    const pings = await pingServices(nc, { timeoutMs, stallMs: Math.min(100, timeoutMs) }).catch(() => []);
    for (const ping of pings) {
      for (const name of parseServiceList(ping.metadata[ServiceMetadata.services])) {
        const count = instances[name];
        if (count !== undefined) instances[name] = count + 1;
      }
    }
  }
  const missing = Object.keys(instances).filter((name) => instances[name] === 0);
  return { ready: missing.length === 0, missing, instances };
}
