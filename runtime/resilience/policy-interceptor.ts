/**
 * The call policies as a Connect interceptor, for transports other than Troupe's NATS transport
 * (which runs them itself, below its interceptors: `createNatsTransport({ nc, policies })`).
 * Unary calls get the whole policy set; each attempt gets its own signal that fires at the
 * attempt's timeout. Streaming calls pass through.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { CallPolicy } from "./call-policies.ts";

export function policyInterceptor(policies: CallPolicy): Interceptor {
  return (next) => (req) => {
    if (req.stream) return next(req);
    return policies.unary(req.method, undefined, req.signal, async (timeoutMs, signal) => {
      const controller = new AbortController();
      const parent = signal ?? req.signal;
      const onAbort = () => controller.abort(parent.reason);
      if (parent.aborted) onAbort();
      else parent.addEventListener("abort", onAbort, { once: true });
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () =>
                controller.abort(new ConnectError("the attempt's deadline expired", Code.DeadlineExceeded)),
              timeoutMs,
            );
      try {
        return await next({ ...req, signal: controller.signal });
      } finally {
        clearTimeout(timer);
        parent.removeEventListener("abort", onAbort);
      }
    });
  };
}
