/**
 * Chooses the subject a call goes to (docs/adr/0012-discovery-direct-calls-and-traffic.md), in
 * this order:
 *
 * 1. a transport bound to one instance (`target: { instance }`) sends every call there;
 * 2. a `troupe-version` header pins the call to the instances of that version;
 * 3. a transport bound to one version (`target: { version }`) sends every call there;
 * 4. the routing record of the called service, if the transport has a route table and the
 *    table has one, picks a version by weight;
 * 5. otherwise the method subject, where every instance of the actor shares the calls.
 *
 * A keyed service's calls (runtime/protocol/partitions.ts) go to the subject of their key's
 * partition instead of 2 to 5: only the partition's owner may run them, whatever its version.
 *
 * A version or instance nobody serves is not replaced by another: the call fails `unavailable`
 * (NATS "no responders"), so a split never silently stops being the split that was asked for.
 * Subjects are built once per method and version; the default path is one map lookup.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Header } from "../protocol/headers.ts";
import {
  checkActorKey,
  type KeyedContract,
  keyedContractOf,
  partitionOf,
  rpcPartitionSubject,
} from "../protocol/partitions.ts";
import { pickVersion, type RouteTable } from "../protocol/route-record.ts";
import {
  assertToken,
  rpcInstanceSubject,
  rpcMethodSubject,
  rpcVersionSubject,
  versionToken,
} from "../protocol/subjects.ts";

/** Where a transport sends its calls when no header or route says otherwise. */
export type CallTarget =
  /** The actor's queue group: any instance. */
  | undefined
  /** One instance, by its discovery id ($SRV `id`). */
  | { readonly instance: string }
  /** Any instance of one version of the called actor. */
  | { readonly version: string };

export interface CallRouterOptions {
  readonly namespace: string;
  readonly target: CallTarget;
  /** Weighted routing records per proto service; undefined routes nothing by weight. */
  readonly routes: RouteTable | undefined;
  /** Uniform in [0, 1); replaceable for tests. */
  readonly random: () => number;
}

/**
 * Returns the subject of a call of `method` with request headers `header` and request `message`
 * (needed for keyed services only); throws a ConnectError.
 */
export type CallRouter = (method: DescMethod, header: Headers | undefined, message?: object) => string;

export function createCallRouter(options: CallRouterOptions): CallRouter {
  const { namespace, target, routes, random } = options;
  const plain = new Map<DescMethod, string>();
  const versioned = new Map<DescMethod, Map<string, string>>();

  const methodSubject = (method: DescMethod): string => {
    let subject = plain.get(method);
    if (subject === undefined) {
      subject =
        target !== undefined && "instance" in target
          ? rpcInstanceSubject(method, target.instance, namespace)
          : rpcMethodSubject(method, namespace);
      plain.set(method, subject);
    }
    return subject;
  };
  const versionSubject = (method: DescMethod, version: string): string => {
    let byVersion = versioned.get(method);
    if (byVersion === undefined) {
      byVersion = new Map();
      versioned.set(method, byVersion);
    }
    let subject = byVersion.get(version);
    if (subject === undefined) {
      try {
        subject = rpcVersionSubject(method, version, namespace);
      } catch (err) {
        throw new ConnectError(
          `cannot route to version "${version}": ${err instanceof Error ? err.message : String(err)}`,
          Code.InvalidArgument,
        );
      }
      // Bounded: a caller could send a different pin on every call.
      if (byVersion.size < 64) byVersion.set(version, subject);
    }
    return subject;
  };
  if (target !== undefined && "instance" in target) {
    assertToken(target.instance, "instance id");
    return (method) => methodSubject(method);
  }
  const fixedVersion = target !== undefined && "version" in target ? target.version : undefined;
  if (fixedVersion !== undefined) versionToken(fixedVersion); // a bad version fails here, not per call
  const partitionSubjects = new Map<DescMethod, string[]>();
  const partitionSubject = (method: DescMethod, contract: KeyedContract, message: object): string => {
    let subjects = partitionSubjects.get(method);
    if (subjects === undefined) {
      subjects = [];
      partitionSubjects.set(method, subjects);
    }
    const partition = partitionOf(
      checkActorKey(contract.keyOf(method, message), contract),
      contract.partitions,
    );
    let subject = subjects[partition];
    if (subject === undefined) {
      subject = rpcPartitionSubject(method, partition, namespace);
      subjects[partition] = subject;
    }
    return subject;
  };
  return (method, header, message) => {
    const contract = keyedContractOf(method.parent);
    if (contract !== undefined && message !== undefined) return partitionSubject(method, contract, message);
    const pin = header?.get(Header.version);
    if (pin !== null && pin !== undefined && pin !== "") return versionSubject(method, pin);
    if (fixedVersion !== undefined) return versionSubject(method, fixedVersion);
    const route = routes?.routeOf(method.parent.typeName);
    if (route !== undefined) return versionSubject(method, pickVersion(route, random()));
    return methodSubject(method);
  };
}
