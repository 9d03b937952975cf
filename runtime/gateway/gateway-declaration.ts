/**
 * What a gateway in front of `services` does on the bus: it calls their public methods and
 * nothing else, so its NATS credentials allow those alone (docs/adr/0030-credentials-from-declarations.md);
 * a private method stays out of its reach even if a route pointed at it.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { ProcessDeclaration } from "../protocol/declaration.ts";
import { methodExposure, publicServices } from "./method-exposure.ts";
import { GATEWAY_SERVICE_NAME } from "./serve-gateway.ts";

export function gatewayDeclaration(services: readonly DescService[], version: string): ProcessDeclaration {
  const fronted = publicServices(services);
  return {
    name: GATEWAY_SERVICE_NAME,
    version,
    serves: [],
    calls: fronted.map((service) => service.typeName),
    callsMethods: fronted.flatMap((service) =>
      service.methods.filter((m) => methodExposure(m).public).map((m) => `${service.typeName}.${m.name}`),
    ),
    publishes: { events: [], jobs: [] },
    consumes: { events: [], jobs: [] },
    state: [],
  };
}
