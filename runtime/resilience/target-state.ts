/**
 * What the client keeps per target service: its circuit breaker (circuit-gate.ts, on cockatiel's
 * SamplingBreaker), its bulkhead (cockatiel), its retry budget, and counters, readable as a
 * snapshot (`policies.snapshot()`), the shape a metrics endpoint publishes.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type BulkheadPolicy, BulkheadRejectedError, bulkhead } from "cockatiel";
import { CircuitGate } from "./circuit-gate.ts";
import type { TargetPolicyOptions } from "./policy-options.ts";
import type { UnaryAttempt } from "./resolved-method.ts";
import { createRetryBudget, type RetryBudget } from "./retry-budget.ts";

export type BreakerState = "closed" | "open" | "half_open" | "off";

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

/** A call this client refused itself (open circuit, full bulkhead): never retried. */
const localRefusals = new WeakSet<ConnectError>();

export function isLocalRefusal(error: ConnectError): boolean {
  return localRefusals.has(error);
}

export class TargetState {
  readonly name: string;
  readonly budget: RetryBudget;
  readonly breaker: CircuitGate | undefined;
  readonly bulkhead: BulkheadPolicy | undefined;
  inFlight = 0;
  calls = 0;
  failures = 0;
  retries = 0;
  hedges = 0;
  budgetExhausted = 0;
  shortCircuited = 0;
  bulkheadRejected = 0;
  private readonly failureCodes: ReadonlySet<Code>;

  constructor(name: string, options: TargetPolicyOptions) {
    this.name = name;
    this.budget = createRetryBudget(options.budget);
    const b = options.breaker;
    this.failureCodes = new Set(b.failureCodes);
    if (b.enabled) this.breaker = new CircuitGate(b);
    const { maxConcurrent, maxQueued } = options.bulkhead;
    if (Number.isFinite(maxConcurrent)) this.bulkhead = bulkhead(maxConcurrent, maxQueued);
  }

  /**
   * The hot path: a whole call of one attempt (no retries, no hedges, no bulkhead), settled with
   * callbacks bound once, so a call costs one `then` and no closure.
   */
  single<R>(
    attempt: UnaryAttempt<R>,
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const breaker = this.breaker;
    if (this.bulkhead !== undefined || (breaker !== undefined && breaker.state !== "closed")) {
      return this.run(() => attempt(timeoutMs, signal)).then(this.ended, this.endedBadly);
    }
    return attempt(timeoutMs, signal).then(this.answered, this.failed);
  }

  /** Ends a call whose outcome the breaker has seen already. */
  readonly ended = <R>(value: R): R => {
    this.inFlight--;
    return value;
  };

  readonly endedBadly = (err: unknown): never => {
    this.inFlight--;
    this.failures++;
    throw err;
  };

  private readonly answered = <R>(value: R): R => {
    this.inFlight--;
    this.breaker?.succeeded("call");
    return value;
  };

  private readonly failed = (err: unknown): never => {
    this.inFlight--;
    this.failures++;
    this.record(err, "call");
    throw err;
  };

  private record(err: unknown, admitted: "call" | "probe"): void {
    const breaker = this.breaker;
    if (breaker === undefined) return;
    if (err instanceof ConnectError && this.failureCodes.has(err.code)) breaker.failed(admitted);
    else breaker.succeeded(admitted);
  }

  /** Sends one attempt through the bulkhead and the breaker. */
  run<R>(send: () => Promise<R>): Promise<R> {
    if (this.bulkhead === undefined) return this.guarded(send);
    return this.bulkhead.execute(() => this.guarded(send)).catch(this.bulkheadFull);
  }

  private guarded<R>(send: () => Promise<R>): Promise<R> {
    const breaker = this.breaker;
    if (breaker === undefined) return send();
    const admitted = breaker.admit();
    if (admitted === undefined) {
      this.shortCircuited++;
      return Promise.reject(
        refusal(`the circuit to ${this.name} is open: calls are refused`, Code.Unavailable),
      );
    }
    return send().then(
      (value) => {
        breaker.succeeded(admitted);
        return value;
      },
      (err: unknown) => {
        this.record(err, admitted);
        throw err;
      },
    );
  }

  private readonly bulkheadFull = (err: unknown): never => {
    if (!(err instanceof BulkheadRejectedError)) throw err;
    this.bulkheadRejected++;
    throw refusal(`the bulkhead of ${this.name} is full`, Code.ResourceExhausted);
  };

  snapshot(): TargetSnapshot {
    return {
      target: this.name,
      breaker: this.breaker === undefined ? "off" : this.breaker.state,
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

function refusal(message: string, code: Code): ConnectError {
  const error = new ConnectError(message, code);
  localRefusals.add(error);
  return error;
}
