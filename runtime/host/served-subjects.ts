/**
 * The subscriptions that serve one proto service on one instance (docs/adr/0004-rpc-over-nats.md,
 * docs/adr/0012-discovery-direct-calls-and-traffic.md):
 *
 *   rpc.<package>.<Service>.*                 queue group = the actor: any instance (the default)
 *   rpc.<package>.<Service>.*.v.<version>     queue group = the actor: any instance of this version
 *   rpc.<package>.<Service>.*.<instance>      no queue group: only this instance (direct calls)
 *
 * The three differ in their number of tokens, so no call matches two of them and none is served
 * twice. All share one callback that dispatches by the method token.
 */
import type { DescService } from "@bufbuild/protobuf";
import { rpcInstanceWildcard, rpcServiceWildcard, rpcVersionWildcard } from "../protocol/subjects.ts";

export interface ServedSubject {
  readonly subject: string;
  /** The queue group, or undefined when only this instance listens. */
  readonly queue: string | undefined;
}

export interface ServedSubjectsOptions {
  /** The actor's name: the queue group of the shared subjects. */
  readonly name: string;
  /** This instance's id; "" serves no per-instance subject. */
  readonly instanceId: string;
  /** The actor's semantic version; "" serves no per-version subject. */
  readonly version: string;
  readonly namespace: string;
}

export function servedSubjects(service: DescService, options: ServedSubjectsOptions): ServedSubject[] {
  const { name, instanceId, version, namespace } = options;
  const subjects: ServedSubject[] = [{ subject: rpcServiceWildcard(service, namespace), queue: name }];
  if (version !== "") {
    subjects.push({ subject: rpcVersionWildcard(service, version, namespace), queue: name });
  }
  if (instanceId !== "") {
    subjects.push({ subject: rpcInstanceWildcard(service, instanceId, namespace), queue: undefined });
  }
  return subjects;
}
