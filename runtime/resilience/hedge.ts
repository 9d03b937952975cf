/**
 * Hedged requests for reads (https://research.google/pubs/the-tail-at-scale/): when the first
 * attempt has not answered after `delayMs`, another is sent, up to `maxAttempts`; the first
 * answer wins and the others are cancelled. A failed attempt is replaced at once when the error
 * is retryable. Every hedge draws on the target's retry budget, so hedging cannot double the
 * load on a slow target.
 *
 * Hand-written: cockatiel has no hedging policy, and this is one timer and a race.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { attemptTimeoutMs, isRetryable, type ResolvedMethod, type UnaryAttempt } from "./resolved-method.ts";

export function hedged<R>(
  m: ResolvedMethod,
  deadline: number,
  signal: AbortSignal | undefined,
  attempt: UnaryAttempt<R>,
): Promise<R> {
  const { target } = m;
  const { delayMs, maxAttempts } = m.options.hedge;
  return new Promise<R>((resolve, reject) => {
    const attempts: AbortController[] = [];
    let pending = 0;
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const finish = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      const reason = new ConnectError("another attempt of the hedged call answered first", Code.Canceled);
      for (const controller of attempts) controller.abort(reason);
    };
    const onAbort = () => {
      if (settled) return;
      finish();
      reject(ConnectError.from(signal?.reason, Code.Canceled));
    };
    const more = () => !settled && attempts.length < maxAttempts && Date.now() < deadline;
    const launch = () => {
      const controller = new AbortController();
      attempts.push(controller);
      pending++;
      const timeoutMs = attemptTimeoutMs(m, deadline);
      target
        .run(() => attempt(timeoutMs, controller.signal))
        .then(
          (value) => {
            if (settled) return;
            finish();
            resolve(value);
          },
          (err: unknown) => {
            pending--;
            if (settled) return;
            const error = ConnectError.from(err);
            if (more() && isRetryable(m, error, deadline)) {
              if (target.budget.tryWithdraw()) {
                target.retries++;
                launch();
                return;
              }
              target.budgetExhausted++;
            }
            if (pending > 0) return; // another attempt may still answer
            finish();
            reject(error);
          },
        );
      if (more()) {
        clearTimeout(timer);
        timer = setTimeout(() => {
          if (!more()) return;
          if (!target.budget.tryWithdraw()) {
            target.budgetExhausted++;
            return;
          }
          target.hedges++;
          launch();
        }, delayMs);
      }
    };

    if (signal?.aborted === true) {
      reject(ConnectError.from(signal.reason, Code.Canceled));
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    launch();
  });
}
