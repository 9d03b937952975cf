/**
 * The one place where Troupe's NATS subjects are built and parsed (DESIGN.md "Subjects";
 * docs/adr/0004-rpc-over-nats.md). Everything else calls these functions.
 *
 *   rpc.<package>.<Service>.<Method>              a method, served by the actor's queue group
 *   rpc.<package>.<Service>.<Method>.<instance>   the same method on one chosen instance
 *   $SRV.<VERB>[.<name>[.<id>]]                   discovery (NATS ADR-32)
 *
 * An optional namespace prefixes every Troupe subject (not $SRV) so several systems can share
 * one NATS account: `acme.rpc.shop.v1.UserService.GetUser`.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";

export const RPC_PREFIX = "rpc";

/** The verbs of the NATS service protocol (ADR-32), as the server-side subjects spell them. */
export const ServiceVerb = {
  PING: "PING",
  INFO: "INFO",
  STATS: "STATS",
} as const;
export type ServiceVerb = (typeof ServiceVerb)[keyof typeof ServiceVerb];

const INVALID_TOKEN = /[\s.*>]/;

/** Throws unless `token` can stand as one subject token (no dots, wildcards or white space). */
export function assertToken(token: string, what: string): string {
  if (token.length === 0 || INVALID_TOKEN.test(token)) {
    throw new Error(`${what} "${token}" cannot be a NATS subject token`);
  }
  return token;
}

/** Validates a namespace (one or more tokens) and returns it with its trailing dot, or "". */
export function namespacePrefix(namespace: string): string {
  if (namespace === "") return "";
  for (const token of namespace.split(".")) assertToken(token, "namespace token");
  return `${namespace}.`;
}

/** `rpc.shop.v1.UserService`: the subject prefix of a service's methods. */
export function rpcServiceSubject(service: DescService, namespace = ""): string {
  return `${namespacePrefix(namespace)}${RPC_PREFIX}.${service.typeName}`;
}

/** `rpc.shop.v1.UserService.GetUser` */
export function rpcMethodSubject(method: DescMethod, namespace = ""): string {
  return `${rpcServiceSubject(method.parent, namespace)}.${method.name}`;
}

/** `rpc.shop.v1.UserService.GetUser.<instance>`: one instance's own subject for a method. */
export function rpcInstanceSubject(method: DescMethod, instanceId: string, namespace = ""): string {
  return `${rpcMethodSubject(method, namespace)}.${assertToken(instanceId, "instance id")}`;
}

/** `rpc.shop.v1.UserService.*`: what an actor subscribes to, to serve every method of a service. */
export function rpcServiceWildcard(service: DescService, namespace = ""): string {
  return `${rpcServiceSubject(service, namespace)}.*`;
}

/** `rpc.shop.v1.UserService.*.<instance>`: every method of a service on one instance. */
export function rpcInstanceWildcard(service: DescService, instanceId: string, namespace = ""): string {
  return `${rpcServiceSubject(service, namespace)}.*.${assertToken(instanceId, "instance id")}`;
}

/**
 * The method name of an RPC subject under a service prefix: the token after `prefix.`, whether
 * or not an instance token follows. Undefined when the subject is not under the prefix.
 */
export function methodNameOf(subject: string, serviceSubject: string): string | undefined {
  if (!subject.startsWith(serviceSubject) || subject.charCodeAt(serviceSubject.length) !== 46) {
    return undefined;
  }
  const start = serviceSubject.length + 1;
  const end = subject.indexOf(".", start);
  return end === -1 ? subject.slice(start) : subject.slice(start, end);
}

/** `$SRV.PING`, `$SRV.PING.<name>`, `$SRV.PING.<name>.<id>` */
export function serviceVerbSubject(verb: ServiceVerb, name?: string, id?: string): string {
  if (name === undefined) return `$SRV.${verb}`;
  if (id === undefined) return `$SRV.${verb}.${assertToken(name, "service name")}`;
  return `$SRV.${verb}.${assertToken(name, "service name")}.${assertToken(id, "service id")}`;
}
