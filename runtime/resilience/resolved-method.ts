/**
 * A method's policies as resolved once per client, and the decisions the retry loop and hedging
 * share: each attempt's timeout and whether an error is worth another attempt.
 */
import { Code, type ConnectError } from "@connectrpc/connect";
import type { ExponentialBackoff } from "cockatiel";
import type { MethodPolicyOptions } from "./policy-options.ts";
import { isLocalRefusal, type TargetState } from "./target-state.ts";

/** Sends one attempt of a call with this timeout and signal. */
export type UnaryAttempt<R> = (timeoutMs: number | undefined, signal: AbortSignal | undefined) => Promise<R>;

/** A method's policies, resolved once. */
export interface ResolvedMethod {
  readonly target: TargetState;
  readonly options: MethodPolicyOptions;
  /** Retries allowed by the contract or by opt-in. */
  readonly retries: boolean;
  readonly hedges: boolean;
  readonly retryableCodes: ReadonlySet<Code>;
  readonly backoff: ExponentialBackoff<unknown>;
}

/** One attempt's timeout: what is left of the deadline, cut to the attempt timeout. */
export function attemptTimeoutMs(m: ResolvedMethod, deadline: number): number | undefined {
  const own = m.options.retry.attemptTimeoutMs;
  if (deadline === Number.POSITIVE_INFINITY) return own;
  const left = deadline - Date.now();
  return own === undefined || left < own ? left : own;
}

/**
 * Whether another attempt may answer differently: a retryable code, or an attempt that ran out
 * of its own timeout while the call still has time. Calls refused here (open circuit, full
 * bulkhead) are not retried: that would only add load.
 */
export function isRetryable(m: ResolvedMethod, error: ConnectError, deadline: number): boolean {
  if (isLocalRefusal(error)) return false;
  if (m.retryableCodes.has(error.code)) return true;
  return (
    error.code === Code.DeadlineExceeded &&
    m.options.retry.attemptTimeoutMs !== undefined &&
    Date.now() < deadline
  );
}
