/**
 * The fault-injection actor of the resilience tests: FaultService (proto/troupe/testing/v1/
 * fault.proto) fails the first N calls of a key, answers slowly, crashes on demand, and relays
 * calls through several hops. A probe shared with the test records what the actor saw: calls
 * per key, the highest concurrency, and the time each relay hop had left.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { type ActorContext, type ActorDefinition, defineActor, implement } from "troupe";
import {
  type Fault,
  type FaultReply,
  FaultService,
  type RelayRequest,
} from "../../proto/gen/troupe/testing/v1/fault_pb.ts";

/** What one hop of a Relay chain saw. */
export interface HopSeen {
  readonly hops: number;
  /** `context.timeoutMs()` when the hop started. */
  readonly timeoutMs: number | undefined;
  /** When its signal fired (performance.now()), if it did. */
  abortedAt?: number;
}

export interface FaultProbe {
  /** Calls per key, this instance. */
  readonly calls: Map<string, number>;
  /** Calls per key in the handler now, and the most there ever were at once. */
  readonly concurrent: Map<string, number>;
  readonly maxConcurrent: Map<string, number>;
  readonly hops: HopSeen[];
  /** Settles when the signal of the hop with `hops` hops left fires. */
  hopAborted(hops: number): Promise<HopSeen>;
  reportAborted(hop: HopSeen): void;
}

export function createFaultProbe(): FaultProbe {
  const aborted = new Map<number, { promise: Promise<HopSeen>; resolve: (hop: HopSeen) => void }>();
  const slot = (hops: number) => {
    let found = aborted.get(hops);
    if (found === undefined) {
      let resolve: (hop: HopSeen) => void = () => {};
      const promise = new Promise<HopSeen>((r) => {
        resolve = r;
      });
      found = { promise, resolve };
      aborted.set(hops, found);
    }
    return found;
  };
  return {
    calls: new Map(),
    concurrent: new Map(),
    maxConcurrent: new Map(),
    hops: [],
    hopAborted: (hops) => slot(hops).promise,
    reportAborted: (hop) => slot(hop.hops).resolve(hop),
  };
}

export interface FaultActorOptions {
  readonly name: string;
  readonly probe: FaultProbe;
  /** What `crash` does (a child process exits; in-process tests leave it unset). */
  readonly crash?: () => never;
}

export function createFaultActor(options: FaultActorOptions): ActorDefinition {
  const { probe } = options;
  const behave = async (
    fault: Fault | undefined,
    ctx: ActorContext,
    call: HandlerContext,
  ): Promise<FaultReply> => {
    if (fault?.crash === true) {
      if (options.crash === undefined)
        throw new ConnectError("crash asked of an in-process actor", Code.Internal);
      options.crash();
    }
    const key = fault?.key ?? "";
    const calls = (probe.calls.get(key) ?? 0) + 1;
    probe.calls.set(key, calls);
    const concurrent = (probe.concurrent.get(key) ?? 0) + 1;
    probe.concurrent.set(key, concurrent);
    probe.maxConcurrent.set(key, Math.max(probe.maxConcurrent.get(key) ?? 0, concurrent));
    try {
      if (calls <= (fault?.failFirst ?? 0)) {
        throw new ConnectError(`fault: call ${calls} of ${key} fails`, Code.Unavailable);
      }
      const slow = (fault?.slowFirst ?? 0) === 0 || calls <= (fault?.slowFirst ?? 0);
      if (slow && (fault?.delayMs ?? 0) > 0) await sleep(fault?.delayMs ?? 0, call.signal);
      return { $typeName: "troupe.testing.v1.FaultReply", instance: ctx.instanceId, calls };
    } finally {
      probe.concurrent.set(key, (probe.concurrent.get(key) ?? 1) - 1);
    }
  };
  return defineActor({
    name: options.name,
    version: "1.0.0",
    description: "fault-injection actor of the resilience tests",
    serves: [FaultService],
    calls: [FaultService],
    services: (ctx) => [
      implement(FaultService, {
        read: async (req, call) => ({ reply: await behave(req.fault, ctx, call) }),
        write: async (req, call) => ({ reply: await behave(req.fault, ctx, call) }),
        relay: async (req: RelayRequest, call) => {
          const seen: HopSeen = { hops: req.hops, timeoutMs: call.timeoutMs() };
          probe.hops.push(seen);
          call.signal.addEventListener("abort", () => {
            seen.abortedAt = performance.now();
            probe.reportAborted(seen);
          });
          if (req.hops <= 1) return { reply: await behave(req.last, ctx, call) };
          // No timeout and no signal passed: both are inherited from this call.
          return ctx
            .client(FaultService)
            .relay({ hops: req.hops - 1, ...(req.last ? { last: req.last } : {}) });
        },
      }),
    ],
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
