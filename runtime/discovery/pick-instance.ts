/**
 * Chooses the instance a direct call goes to (docs/adr/0012-discovery-direct-calls-and-traffic.md).
 *
 * - `random`: uniform among the instances that serve the method.
 * - `fastest`: the lowest average processing time of the method's endpoint in `$SRV.STATS`
 *   (discover with `stats: true`). An instance that has not served the method yet has no
 *   average: such instances are tried first (at random), so a new instance gets measured
 *   instead of starved. Without stats it is `random`.
 *
 * STATS measures the handler's time on the instance (arrival to reply), not the network or the
 * instance's queue: it tells a slow instance from a fast one, not a busy link from an idle one.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { rpcMethodSubject } from "../protocol/subjects.ts";
import type { ServiceInstance } from "./discover-service.ts";

export type PickStrategy = "random" | "fastest";

export interface PickOptions {
  readonly strategy: PickStrategy;
  /** The namespace the instances serve under (to find the method's endpoint by subject). */
  readonly namespace: string;
  /** Instance ids not to choose (e.g. one that just failed). */
  readonly exclude: ReadonlySet<string>;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

export const defaultPickOptions: PickOptions = {
  strategy: "fastest",
  namespace: "",
  exclude: new Set(),
  random: Math.random,
};

/** The chosen instance, or undefined when none serves `method`. */
export function pickInstance(
  instances: readonly ServiceInstance[],
  method: DescMethod,
  partial: Partial<PickOptions> = {},
): ServiceInstance | undefined {
  const options = { ...defaultPickOptions, ...partial };
  const subject = rpcMethodSubject(method, options.namespace);
  const candidates = instances.flatMap((instance) => {
    if (options.exclude.has(instance.id)) return [];
    const endpoint = instance.endpoints.find((e) => e.subject === subject);
    return endpoint === undefined ? [] : [{ instance, stats: endpoint.stats }];
  });
  const any = <T>(list: readonly T[]) => list[Math.floor(options.random() * list.length)];
  if (options.strategy === "random" || candidates.some((c) => c.stats === undefined)) {
    return any(candidates)?.instance;
  }
  const unmeasured = candidates.filter((c) => (c.stats?.num_requests ?? 0) === 0);
  if (unmeasured.length > 0) return any(unmeasured)?.instance;
  let best = candidates[0];
  for (const c of candidates) {
    if ((c.stats?.average_processing_time ?? 0) < (best?.stats?.average_processing_time ?? 0)) best = c;
  }
  return best?.instance;
}
