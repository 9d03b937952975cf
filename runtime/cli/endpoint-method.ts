/**
 * The method an endpoint serves, as `troupe call` takes it (`shop.v1.ProductService/GetProduct`),
 * read from the endpoint's subject (`rpc.shop.v1.ProductService.GetProduct`) and the proto
 * services the instance names (`troupe.services`): a package has dots too, so the subject alone
 * cannot say where the service name ends.
 */
import { parseSubject } from "../protocol/subjects.ts";

/** `package.Service/Method`, or the subject itself when it is not one of `services`' methods. */
export function endpointMethod(subject: string, namespace: string, services: readonly string[]): string {
  const parsed = parseSubject(subject, namespace);
  if (parsed?.kind !== "rpc") return subject;
  for (const service of services) {
    const method = parsed.tail.startsWith(`${service}.`) ? parsed.tail.slice(service.length + 1) : "";
    if (method !== "" && !method.includes(".")) return `${service}/${method}`;
  }
  return subject;
}
