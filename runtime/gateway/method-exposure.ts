/**
 * How the gateway exposes a method, read from the contract: `(troupe.v1.method) = { public: true,
 * auth_required: … }` (proto/troupe/v1/options.proto). A method without the option is private.
 */
import { type DescMethod, getOption, hasOption } from "@bufbuild/protobuf";
import { method as methodOption } from "../../proto/gen/troupe/v1/options_pb.ts";

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

/** `shop.v1.UserService/GetUser`: how errors and logs name a method. */
export function methodPath(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}
