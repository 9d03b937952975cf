/**
 * What the adoption benchmark measures, by name (the driver's `--peers`, as in the other
 * benchmarks; here each is one of the figures rather than a competitor):
 * - startup: an actor process from spawn until it answers `$SRV.PING`, and its RSS once idle;
 * - bundled: the same actor bundled by `troupe build` (for Node on Node and Deno, for Bun on Bun);
 * - bare: the same for a process that answers that PING with nats.js alone (the floor);
 * - discovery: Troupe's discovery of 1,000 instances served from a few processes;
 * - events: publish → handled latency of events at a steady rate.
 */
export const MEASUREMENT_NAMES = ["startup", "bundled", "bare", "discovery", "events"] as const;
export type MeasurementName = (typeof MEASUREMENT_NAMES)[number];

export function isMeasurementName(name: string): name is MeasurementName {
  return (MEASUREMENT_NAMES as readonly string[]).includes(name);
}

/** The actor name of the processes whose startup is timed. */
export const STARTUP_ACTOR = "adoption-bench";
/** The actor name of the 1,000 instances discovery finds. */
export const FLEET_ACTOR = "adoption-fleet";
/** The actor name of the events subscriber: its durable consumer is `adoption-events_EchoRequest`. */
export const EVENTS_ACTOR = "adoption-events";
