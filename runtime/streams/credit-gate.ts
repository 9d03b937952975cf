/** Flow control of a stream's sender (docs/adr/0006-rpc-streams.md). */
/** Credit a sender may spend: one unit per message frame. One sender waits at a time. */
export interface CreditGate {
  readonly available: number;
  grant(credit: number): void;
  /** Spends one unit, waiting for a grant when there is none; rejects once the gate is closed. */
  take(): Promise<void>;
  /** Rejects the waiting sender, and every later `take()`, with `reason`. */
  close(reason: unknown): void;
}

export function createCreditGate(initial: number): CreditGate {
  let available = initial;
  let waiter: { resolve(): void; reject(reason: unknown): void } | undefined;
  let closed: { reason: unknown } | undefined;
  return {
    get available() {
      return available;
    },
    grant(credit) {
      available += credit;
      if (waiter !== undefined && available > 0) {
        available--;
        const { resolve } = waiter;
        waiter = undefined;
        resolve();
      }
    },
    take() {
      if (closed !== undefined) return Promise.reject(closed.reason);
      if (available > 0) {
        available--;
        return Promise.resolve();
      }
      if (waiter !== undefined) return Promise.reject(new Error("a credit gate serves one sender at a time"));
      return new Promise<void>((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    close(reason) {
      if (closed !== undefined) return;
      closed = { reason };
      waiter?.reject(reason);
      waiter = undefined;
    },
  };
}
