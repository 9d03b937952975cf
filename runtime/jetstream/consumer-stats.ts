/**
 * What one delivery loop (consume.ts) counts for `$SRV.STATS` and the Prometheus page
 * (docs/adr/0025-metrics-for-every-part.md): messages handled, handler failures given back for a
 * retry, dead letters, the handler's latency histogram (the buckets of ADR 14, so instances sum)
 * and the consumer's lag as JetStream reports it. Counting is O(1) and allocation-free: it runs on
 * every message.
 */
import { createLatencyHistogram, type LatencyHistogramSnapshot } from "../observability/latency-histogram.ts";

/** A consumer's backlog, from JetStream's consumer info (the same for every instance). */
export interface ConsumerLagSnapshot {
  /** Messages the consumer has not delivered yet (`num_pending`). */
  readonly pending: number;
  /** Messages delivered and not acknowledged yet, waiting retries included (`num_ack_pending`). */
  readonly ack_pending: number;
  /** How old these figures are, in milliseconds. */
  readonly age_ms: number;
}

/** One consumer's entry in the `consumers` list of an actor's STATS `data`. */
export interface ConsumerStatsSnapshot {
  readonly stream: string;
  readonly consumer: string;
  readonly kind: "event" | "job";
  /** Messages whose handler succeeded (acknowledged). */
  readonly handled: number;
  /** Handler failures given back to JetStream for another attempt. */
  readonly failed: number;
  /** Messages published to the dead letters (undecodable, refused, out of time or attempts). */
  readonly dead_lettered: number;
  /** Messages this instance holds now: running, or waiting for a slot or their key. */
  readonly in_flight: number;
  /** Time from handler start to its end, success or failure. */
  readonly latency: LatencyHistogramSnapshot;
  /** Undefined until the consumer's info has been read once. */
  readonly lag: ConsumerLagSnapshot | undefined;
}

export interface ConsumerStatsRecorder {
  handled(): void;
  failed(): void;
  deadLettered(): void;
  /** One handler run of `ms` milliseconds. */
  observe(ms: number): void;
  /** The consumer's lag as JetStream reported it at `atMs` (performance.now()). */
  lag(pending: number, ackPending: number, atMs: number): void;
  /** When the lag was last read (performance.now()); undefined before. */
  readonly lagAt: number | undefined;
  snapshot(inFlight: number): ConsumerStatsSnapshot;
}

const HANDLED = 0;
const FAILED = 1;
const DEAD_LETTERED = 2;

export function createConsumerStats(
  stream: string,
  consumer: string,
  kind: "event" | "job",
): ConsumerStatsRecorder {
  const counters = new Float64Array(3);
  const latency = createLatencyHistogram();
  let lag: { pending: number; ackPending: number; at: number } | undefined;
  return {
    handled() {
      counters[HANDLED] = (counters[HANDLED] as number) + 1;
    },
    failed() {
      counters[FAILED] = (counters[FAILED] as number) + 1;
    },
    deadLettered() {
      counters[DEAD_LETTERED] = (counters[DEAD_LETTERED] as number) + 1;
    },
    observe(ms) {
      latency.observe(ms / 1_000);
    },
    lag(pending, ackPending, atMs) {
      // An older answer arriving late never replaces a newer one.
      if (lag === undefined || atMs >= lag.at) lag = { pending, ackPending, at: atMs };
    },
    get lagAt() {
      return lag?.at;
    },
    snapshot(inFlight) {
      return {
        stream,
        consumer,
        kind,
        handled: counters[HANDLED] as number,
        failed: counters[FAILED] as number,
        dead_lettered: counters[DEAD_LETTERED] as number,
        in_flight: inFlight,
        latency: latency.snapshot(),
        lag:
          lag === undefined
            ? undefined
            : {
                pending: lag.pending,
                ack_pending: lag.ackPending,
                age_ms: Math.max(0, Math.round(performance.now() - lag.at)),
              },
      };
    },
  };
}
