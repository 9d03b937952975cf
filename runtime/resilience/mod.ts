/**
 * `troupe/resilience`: deadlines, retries, breakers, bulkheads and hedging as call policies in
 * the transport (docs/adr/0011-resilience-policies.md).
 */
export { type CallPolicies, type CallPolicy, createCallPolicies } from "./call-policies.ts";
export { type CallScope, currentCallScope, runInCallScope } from "./call-scope.ts";
export { policyInterceptor } from "./policy-interceptor.ts";
export {
  type BreakerPolicyOptions,
  type BulkheadPolicyOptions,
  type CallPoliciesInit,
  type CallPoliciesOptions,
  defaultTargetPolicyOptions,
  type HedgePolicyOptions,
  type MethodPolicyOptions,
  type PolicyOverrides,
  type RetryPolicyOptions,
  type TargetPolicyOptions,
} from "./policy-options.ts";
export type { UnaryAttempt } from "./resolved-method.ts";
export { defaultRetryBudgetOptions, type RetryBudgetOptions } from "./retry-budget.ts";
export type { BreakerState, PoliciesSnapshot, TargetSnapshot } from "./target-state.ts";
