/**
 * A circuit breaker for one target: cockatiel's SamplingBreaker decides when the failure ratio
 * over its window opens the circuit; this gate keeps the three states around it. Open refuses
 * calls; after `halfOpenAfterMs` one call is let through as the probe (half-open, others are
 * refused meanwhile); its success closes the circuit, its failure opens it again.
 *
 * Cockatiel's CircuitBreakerPolicy does the same through `execute(fn)`, which costs two async
 * frames per call on the unary hot path (docs/adr/0011-resilience-policies.md, benchmark); the
 * gate records an outcome with a synchronous call instead.
 */
import { CircuitState, SamplingBreaker } from "cockatiel";

export type CircuitStateName = "closed" | "open" | "half_open";

export interface CircuitGateOptions {
  readonly failureRatio: number;
  readonly windowMs: number;
  readonly minCallsPerSecond: number;
  readonly halfOpenAfterMs: number;
}

export class CircuitGate {
  state: CircuitStateName = "closed";
  private readonly breaker: SamplingBreaker;
  private readonly halfOpenAfterMs: number;
  private openedAt = 0;

  constructor(options: CircuitGateOptions) {
    this.breaker = new SamplingBreaker({
      threshold: options.failureRatio,
      duration: options.windowMs,
      minimumRps: options.minCallsPerSecond,
    });
    this.halfOpenAfterMs = options.halfOpenAfterMs;
  }

  /**
   * Whether a call may be sent now: "call" in a closed circuit, "probe" for the one call of a
   * half-open circuit, undefined when refused.
   */
  admit(): "call" | "probe" | undefined {
    if (this.state === "closed") return "call";
    if (this.state === "open" && Date.now() - this.openedAt >= this.halfOpenAfterMs) {
      this.state = "half_open";
      return "probe";
    }
    return undefined;
  }

  /** The target answered (or failed in a way that says nothing about its health). */
  succeeded(admitted: "call" | "probe"): void {
    if (admitted === "probe") {
      this.breaker.success(CircuitState.HalfOpen); // resets the window
      this.state = "closed";
    } else if (this.state === "closed") {
      this.breaker.success(CircuitState.Closed);
    }
  }

  /** The target failed (a code in `failureCodes`). */
  failed(admitted: "call" | "probe"): void {
    if (admitted === "probe") {
      this.open();
    } else if (this.state === "closed" && this.breaker.failure(CircuitState.Closed)) {
      this.open();
    }
  }

  private open(): void {
    this.state = "open";
    this.openedAt = Date.now();
  }
}
