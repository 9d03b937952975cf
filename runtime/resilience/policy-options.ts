/**
 * What the client-side call policies do, per target service and method, with their defaults
 * (docs/guide/mesh-and-operations.md, docs/adr/0011-resilience-policies.md). Options given for a
 * service (`targets`) override the defaults, options given for a method (`methods`) override the
 * service's; each policy's fields merge one by one.
 */
import { Code } from "@connectrpc/connect";
import { defaultRetryBudgetOptions, type RetryBudgetOptions } from "./retry-budget.ts";

export interface RetryPolicyOptions {
  /** Attempts in all, the first included; 1 turns retries off. */
  readonly maxAttempts: number;
  /** Exponential backoff with decorrelated jitter (cockatiel) from this delay… */
  readonly initialDelayMs: number;
  /** …up to this one. A retry whose delay would pass the call's deadline is not made. */
  readonly maxDelayMs: number;
  /** The codes worth another attempt: the target may answer differently next time. */
  readonly retryableCodes: readonly Code[];
  /**
   * Retries a method whose contract says neither `NO_SIDE_EFFECTS` nor `IDEMPOTENT`: only for
   * methods whose effects are idempotent in a way the contract does not say (an idempotency key).
   */
  readonly optIn: boolean;
  /**
   * Each attempt's own timeout within the call's deadline; an attempt that runs out of it is
   * retried (a request lost with a killed instance gets no answer at all). Undefined: the
   * whole deadline.
   */
  readonly attemptTimeoutMs: number | undefined;
}

export interface BreakerPolicyOptions {
  readonly enabled: boolean;
  /** The failure ratio over the window that opens the circuit (cockatiel SamplingBreaker). */
  readonly failureRatio: number;
  readonly windowMs: number;
  /** Below this rate of calls the circuit stays closed: a few failures prove nothing. */
  readonly minCallsPerSecond: number;
  /** How long an open circuit refuses calls before one probe call is let through (half-open). */
  readonly halfOpenAfterMs: number;
  /** The codes that count as the target failing; others (not_found, invalid_argument…) are answers. */
  readonly failureCodes: readonly Code[];
}

export interface BulkheadPolicyOptions {
  /** Calls to the target in flight at once from this client; Infinity turns the bulkhead off. */
  readonly maxConcurrent: number;
  /** Calls that may wait for a slot; beyond them a call fails at once with `resource_exhausted`. */
  readonly maxQueued: number;
}

export interface HedgePolicyOptions {
  /** Hedges `NO_SIDE_EFFECTS` methods (and others with `retry.optIn`). */
  readonly enabled: boolean;
  /** Without an answer after this long, one more attempt is sent; the first answer wins. */
  readonly delayMs: number;
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
}

/** The policies of one method. */
export interface MethodPolicyOptions {
  readonly retry: RetryPolicyOptions;
  readonly hedge: HedgePolicyOptions;
}

/** The policies of one target service: its methods' plus what the target shares. */
export interface TargetPolicyOptions extends MethodPolicyOptions {
  readonly breaker: BreakerPolicyOptions;
  readonly bulkhead: BulkheadPolicyOptions;
  /** Retries and hedges to the target, across all its methods, are bounded by this budget. */
  readonly budget: RetryBudgetOptions;
}

/** Overrides of some fields of some policies. */
export type PolicyOverrides<T> = { readonly [K in keyof T]?: Partial<T[K]> };

export interface CallPoliciesOptions {
  readonly defaults: TargetPolicyOptions;
  /** Per target service, by its type name: `{ "shop.v1.ProductService": { bulkhead: { maxConcurrent: 32 } } }`. */
  readonly targets: Readonly<Record<string, PolicyOverrides<TargetPolicyOptions>>>;
  /** Per method, as `<service type name>/<Method>`: `{ "shop.v1.OrderService/PlaceOrder": { retry: { optIn: true } } }`. */
  readonly methods: Readonly<Record<string, PolicyOverrides<MethodPolicyOptions>>>;
}

export const defaultTargetPolicyOptions: TargetPolicyOptions = {
  retry: {
    maxAttempts: 3,
    initialDelayMs: 25,
    maxDelayMs: 1_000,
    retryableCodes: [Code.Unavailable],
    optIn: false,
    attemptTimeoutMs: undefined,
  },
  hedge: { enabled: false, delayMs: 50, maxAttempts: 2 },
  breaker: {
    enabled: true,
    failureRatio: 0.5,
    windowMs: 10_000,
    minCallsPerSecond: 5,
    halfOpenAfterMs: 5_000,
    failureCodes: [
      Code.Unavailable,
      Code.DeadlineExceeded,
      Code.ResourceExhausted,
      Code.Internal,
      Code.Unknown,
    ],
  },
  bulkhead: { maxConcurrent: Number.POSITIVE_INFINITY, maxQueued: 0 },
  budget: defaultRetryBudgetOptions,
};

export const defaultCallPoliciesOptions: CallPoliciesOptions = {
  defaults: defaultTargetPolicyOptions,
  targets: {},
  methods: {},
};

/** A partial of CallPoliciesOptions, as callers give it. */
export interface CallPoliciesInit {
  readonly defaults?: PolicyOverrides<TargetPolicyOptions>;
  readonly targets?: CallPoliciesOptions["targets"];
  readonly methods?: CallPoliciesOptions["methods"];
}

/** Layers overrides over a full set of policy options, field by field. */
export function mergePolicies<T extends object>(base: T, ...layers: (PolicyOverrides<T> | undefined)[]): T {
  const merged = { ...base } as Record<string, unknown>;
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined) merged[key] = { ...(merged[key] as object), ...(value as object) };
    }
  }
  return merged as unknown as T;
}

export function resolveCallPoliciesOptions(init: CallPoliciesInit = {}): CallPoliciesOptions {
  return {
    defaults: mergePolicies(defaultTargetPolicyOptions, init.defaults),
    targets: init.targets ?? {},
    methods: init.methods ?? {},
  };
}
