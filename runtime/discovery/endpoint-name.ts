/**
 * The name of the $SRV endpoint that reports one RPC method (NATS ADR-32 endpoint names match
 * `^[A-Za-z0-9\-_]+$`, so `shop.v1.UserService.GetUser` cannot be used as it is).
 *
 * `<Service>-<Method>`, e.g. `UserService-GetUser`: short enough for `nats micro info|stats`
 * tables, unique among the methods of one service, and reversible, because proto identifiers
 * never contain `-` (an `_` separator would be ambiguous for `User_Service` + `Get` and `User` +
 * `Service_Get`). The package is left out: the endpoint's `subject`
 * (`rpc.shop.v1.UserService.GetUser`) carries the full name, and routing uses the subject, never
 * the endpoint name. See docs/adr/0005-discovery-with-srv.md.
 */

/** A proto identifier (service, method or package part). */
const PROTO_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Separates the service's simple name from the method name. */
export const ENDPOINT_NAME_SEPARATOR = "-";

/**
 * `endpointNameOf("shop.v1.UserService", "GetUser")` is `"UserService-GetUser"`. Throws when the
 * type name or the method name is not made of proto identifiers.
 */
export function endpointNameOf(serviceTypeName: string, methodName: string): string {
  const service = serviceTypeName.slice(serviceTypeName.lastIndexOf(".") + 1);
  if (!PROTO_IDENTIFIER.test(service)) {
    throw new Error(`service type name "${serviceTypeName}" does not end in a proto identifier`);
  }
  if (!PROTO_IDENTIFIER.test(methodName)) {
    throw new Error(`method name "${methodName}" of ${serviceTypeName} is not a proto identifier`);
  }
  return `${service}${ENDPOINT_NAME_SEPARATOR}${methodName}`;
}
