/**
 * How the gateway exposes a method, read from the contract: `(troupe.v1.method) = { public: true,
 * auth_required: … }` (proto/troupe/v1/options.proto). A method without the option is private.
 */
import { type DescMethod, type DescService, getOption, hasOption } from "@bufbuild/protobuf";
import { method as methodOption } from "../gen/troupe/v1/options_pb.ts";

export interface MethodExposure {
  /** Reachable through the gateway at all. */
  readonly public: boolean;
  /** A verified JWT is needed before the call is forwarded. */
  readonly authRequired: boolean;
}

const PRIVATE: MethodExposure = { public: false, authRequired: false };

/**
 * Read once per method: `getOption` decodes the option from the descriptor's unknown fields on
 * every call, which cost about 5 % of the gateway's CPU per request (bench/gateway profile).
 */
const exposures = new WeakMap<DescMethod, MethodExposure>();

export function methodExposure(method: DescMethod): MethodExposure {
  let exposure = exposures.get(method);
  if (exposure === undefined) {
    exposure = readExposure(method);
    exposures.set(method, exposure);
  }
  return exposure;
}

function readExposure(method: DescMethod): MethodExposure {
  if (!hasOption(method, methodOption)) return PRIVATE;
  const options = getOption(method, methodOption);
  return { public: options.public, authRequired: options.public && options.authRequired };
}

/**
 * The services a gateway fronts when it is given a whole contracts folder: those with at least
 * one public method. A service whose methods are all private is for calls between actors only,
 * and fronting it would make `/readyz` wait for it for nothing.
 */
export function publicServices(services: readonly DescService[]): DescService[] {
  return services.filter((service) => service.methods.some((method) => methodExposure(method).public));
}

export { methodPath } from "../protocol/subjects.ts";
