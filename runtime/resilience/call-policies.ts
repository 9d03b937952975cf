/**
 * Client-side resilience policies for unary calls (docs/adr/0011-resilience-policies.md): the
 * inherited deadline, retries where the contract allows them (backoff with jitter, a retry
 * budget), a circuit breaker and a bulkhead per target, and optional hedging. The NATS
 * transport runs them directly (`createNatsTransport({ nc, policies })`), which keeps the unary
 * fast path; `policyInterceptor` runs them as a Connect interceptor on any other transport.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ExponentialBackoff, type IBackoff } from "cockatiel";
import { currentCallScope, inheritedSignal, inheritedTimeoutMs } from "./call-scope.ts";
import { hedged } from "./hedge.ts";
import {
  type CallPoliciesInit,
  type CallPoliciesOptions,
  type MethodPolicyOptions,
  mergePolicies,
  resolveCallPoliciesOptions,
} from "./policy-options.ts";
import { attemptTimeoutMs, isRetryable, type ResolvedMethod, type UnaryAttempt } from "./resolved-method.ts";
import { type PoliciesSnapshot, TargetState } from "./target-state.ts";

/** What a transport asks of its policies for each call. */
export interface CallPolicy {
  /** Runs a unary call: `attempt` sends it once; the policy may send it again (retries, hedges). */
  unary<R>(
    method: DescMethod,
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    attempt: UnaryAttempt<R>,
  ): Promise<R>;
  /** A streaming call's timeout and signal: streams inherit the deadline, nothing more. */
  stream(timeoutMs: number, signal: AbortSignal | undefined): [number, AbortSignal | undefined];
}

export interface CallPolicies extends CallPolicy {
  readonly options: CallPoliciesOptions;
  /** Every target called so far: breaker state, calls in flight, retries, budget. */
  snapshot(): PoliciesSnapshot;
}

export function createCallPolicies(init: CallPoliciesInit = {}): CallPolicies {
  const options = resolveCallPoliciesOptions(init);
  const targets = new Map<string, TargetState>();
  const methods = new Map<DescMethod, ResolvedMethod>();

  const resolve = (method: DescMethod): ResolvedMethod => {
    const service = method.parent.typeName;
    const targetOverrides = options.targets[service];
    let target = targets.get(service);
    if (target === undefined) {
      target = new TargetState(service, mergePolicies(options.defaults, targetOverrides));
      targets.set(service, target);
    }
    const own = mergePolicies<MethodPolicyOptions>(
      { retry: options.defaults.retry, hedge: options.defaults.hedge },
      targetOverrides,
      options.methods[`${service}/${method.name}`],
    );
    const level = method.idempotency;
    const safe = level === Idempotency.NO_SIDE_EFFECTS || level === Idempotency.IDEMPOTENT;
    const resolved: ResolvedMethod = {
      target,
      options: own,
      retries: own.retry.maxAttempts > 1 && (safe || own.retry.optIn),
      hedges:
        own.hedge.enabled &&
        own.hedge.maxAttempts > 1 &&
        (level === Idempotency.NO_SIDE_EFFECTS || own.retry.optIn),
      retryableCodes: new Set(own.retry.retryableCodes),
      backoff: new ExponentialBackoff({
        initialDelay: own.retry.initialDelayMs,
        maxDelay: own.retry.maxDelayMs,
      }),
    };
    methods.set(method, resolved);
    return resolved;
  };

  return {
    options,
    unary<R>(
      method: DescMethod,
      ownTimeoutMs: number | undefined,
      ownSignal: AbortSignal | undefined,
      attempt: UnaryAttempt<R>,
    ): Promise<R> {
      const m = methods.get(method) ?? resolve(method);
      const scope = currentCallScope();
      let timeoutMs = ownTimeoutMs;
      let signal = ownSignal;
      if (scope !== undefined) {
        try {
          timeoutMs = inheritedTimeoutMs(ownTimeoutMs, scope);
        } catch (err) {
          return Promise.reject(err);
        }
        signal = inheritedSignal(ownSignal, scope);
      }
      const target = m.target;
      target.calls++;
      target.inFlight++;
      target.budget.deposit();
      // The hot path: one `then`, no async frame, no closure (target-state.ts).
      if (!m.retries && !m.hedges) return target.single(attempt, timeoutMs, signal);
      const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
      const call = m.hedges
        ? hedged(m, deadline, signal, attempt)
        : retried(m, timeoutMs, deadline, signal, attempt);
      return call.then(target.ended, target.endedBadly);
    },
    stream(timeoutMs, signal) {
      const scope = currentCallScope();
      if (scope === undefined) return [timeoutMs, signal];
      return [inheritedTimeoutMs(timeoutMs, scope) as number, inheritedSignal(signal, scope)];
    },
    snapshot: () => ({ targets: [...targets.values()].map((t) => t.snapshot()) }),
  };
}

/**
 * The retry loop. Hand-written around cockatiel's backoff rather than its RetryPolicy, whose
 * delay ignores the caller's signal and deadline: a retry here draws on the target's budget
 * first and is not made when its delay would end past the deadline.
 */
async function retried<R>(
  m: ResolvedMethod,
  timeoutMs: number | undefined,
  deadline: number,
  signal: AbortSignal | undefined,
  attempt: UnaryAttempt<R>,
): Promise<R> {
  const { target } = m;
  let backoff: IBackoff<unknown> | undefined;
  const own = m.options.retry.attemptTimeoutMs;
  // The first attempt keeps the caller's timeout when it can: the transport's default header block.
  let next = own === undefined || (timeoutMs !== undefined && timeoutMs <= own) ? timeoutMs : own;
  for (let n = 1; ; n++) {
    const thisTimeoutMs = next;
    try {
      return await target.run(() => attempt(thisTimeoutMs, signal));
    } catch (err) {
      const error = ConnectError.from(err);
      if (n >= m.options.retry.maxAttempts || signal?.aborted === true || !isRetryable(m, error, deadline)) {
        throw error;
      }
      backoff = backoff === undefined ? m.backoff.next() : backoff.next(undefined);
      if (Date.now() + backoff.duration >= deadline) throw error;
      if (!target.budget.tryWithdraw()) {
        target.budgetExhausted++;
        throw error;
      }
      target.retries++;
      await sleep(backoff.duration, signal);
      next = attemptTimeoutMs(m, deadline);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal?.reason, Code.Canceled));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
