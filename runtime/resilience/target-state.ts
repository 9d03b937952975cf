/**
 * What the client keeps per target service: its circuit breaker and bulkhead (cockatiel), its
 * retry budget, and counters, readable as a snapshot (`policies.snapshot()`), the shape a
 * metrics endpoint publishes.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BrokenCircuitError,
  type BulkheadPolicy,
  BulkheadRejectedError,
  bulkhead,
  type CircuitBreakerPolicy,
  CircuitState,
  circuitBreaker,
  handleWhen,
  SamplingBreaker,
} from "cockatiel";
import type { TargetPolicyOptions } from "./policy-options.ts";
import { createRetryBudget, type RetryBudget } from "./retry-budget.ts";

export type BreakerState = "closed" | "open" | "half_open" | "isolated" | "off";

/** One target as the client's policies see it. */
export interface TargetSnapshot {
  /** The target service's type name, e.g. "shop.v1.ProductService". */
  readonly target: string;
  /**
   * The circuit: "open" refuses calls until `halfOpenAfterMs` has passed, then the next call is
   * the probe ("half_open"); "off" when the breaker is disabled.
   */
  readonly breaker: BreakerState;
  /** Calls to the target in flight now (retries and hedges count once). */
  readonly inFlight: number;
  /** Calls made (first attempts). */
  readonly calls: number;
  /** Calls that failed, after all their attempts. */
  readonly failures: number;
  /** Retries sent. */
  readonly retries: number;
  /** Hedges sent. */
  readonly hedges: number;
  /** Retries and hedges not sent because the retry budget was spent. */
  readonly budgetExhausted: number;
  /** Retries and hedges the budget allows now. */
  readonly budgetAvailable: number;
  /** Calls refused by the open circuit without being sent. */
  readonly shortCircuited: number;
  /** Calls refused by the full bulkhead without being sent. */
  readonly bulkheadRejected: number;
}

export interface PoliciesSnapshot {
  readonly targets: readonly TargetSnapshot[];
}

const STATE_NAMES: Readonly<Record<CircuitState, BreakerState>> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half_open",
  [CircuitState.Isolated]: "isolated",
};

/** A call this client refused itself (open circuit, full bulkhead): never retried. */
const localRefusals = new WeakSet<ConnectError>();

export function isLocalRefusal(error: ConnectError): boolean {
  return localRefusals.has(error);
}

export class TargetState {
  readonly name: string;
  readonly budget: RetryBudget;
  readonly breaker: CircuitBreakerPolicy | undefined;
  readonly bulkhead: BulkheadPolicy | undefined;
  inFlight = 0;
  calls = 0;
  failures = 0;
  retries = 0;
  hedges = 0;
  budgetExhausted = 0;
  shortCircuited = 0;
  bulkheadRejected = 0;

  constructor(name: string, options: TargetPolicyOptions) {
    this.name = name;
    this.budget = createRetryBudget(options.budget);
    const b = options.breaker;
    if (b.enabled) {
      const failureCodes = new Set(b.failureCodes);
      this.breaker = circuitBreaker(
        handleWhen((err) => err instanceof ConnectError && failureCodes.has(err.code)),
        {
          halfOpenAfter: b.halfOpenAfterMs,
          breaker: new SamplingBreaker({
            threshold: b.failureRatio,
            duration: b.windowMs,
            minimumRps: b.minCallsPerSecond,
          }),
        },
      );
    }
    const { maxConcurrent, maxQueued } = options.bulkhead;
    if (Number.isFinite(maxConcurrent)) this.bulkhead = bulkhead(maxConcurrent, maxQueued);
  }

  /** Sends one attempt through the bulkhead and the breaker. */
  run<R>(send: () => Promise<R>): Promise<R> {
    const { breaker } = this;
    const guarded = breaker === undefined ? send : () => breaker.execute(send);
    const call = this.bulkhead === undefined ? guarded() : this.bulkhead.execute(guarded);
    return breaker === undefined && this.bulkhead === undefined ? call : call.catch(this.refused);
  }

  private readonly refused = (err: unknown): never => {
    let error: ConnectError | undefined;
    if (err instanceof BrokenCircuitError) {
      this.shortCircuited++;
      error = new ConnectError(`the circuit to ${this.name} is open: calls are refused`, Code.Unavailable);
    } else if (err instanceof BulkheadRejectedError) {
      this.bulkheadRejected++;
      error = new ConnectError(`the bulkhead of ${this.name} is full`, Code.ResourceExhausted);
    }
    if (error === undefined) throw err;
    localRefusals.add(error);
    throw error;
  };

  snapshot(): TargetSnapshot {
    return {
      target: this.name,
      breaker: this.breaker === undefined ? "off" : STATE_NAMES[this.breaker.state],
      inFlight: this.inFlight,
      calls: this.calls,
      failures: this.failures,
      retries: this.retries,
      hedges: this.hedges,
      budgetExhausted: this.budgetExhausted,
      budgetAvailable: this.budget.available(),
      shortCircuited: this.shortCircuited,
      bulkheadRejected: this.bulkheadRejected,
    };
  }
}
