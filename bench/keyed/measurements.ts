/**
 * What the keyed benchmark measures, by name (the driver's `--peers`, as in the other benchmarks;
 * here two of them are the services compared and the others are figures of the keyed one):
 * - plain: Read and Add on the plain counter service (`implement`), the comparison's baseline;
 * - keyed: the same calls on the keyed counter service (`keyed`), over 1,000 active actors;
 * - activation: a key's first call (no stored state; stored state) beside an active key's call;
 * - memory: one instance's memory with 10,000 actors active, and after 100,000 passivated;
 * - move, move-2s: the time until every partition answers again after one of 3 instances is
 *   SIGKILLed, with the default lease (3 s, renewed every 1 s) and with a 2 s lease (0.5 s).
 */
export const MEASUREMENT_NAMES = ["plain", "keyed", "activation", "memory", "move", "move-2s"] as const;
export type MeasurementName = (typeof MEASUREMENT_NAMES)[number];

export function isMeasurementName(name: string): name is MeasurementName {
  return (MEASUREMENT_NAMES as readonly string[]).includes(name);
}

export type MoveName = Extract<MeasurementName, "move" | "move-2s">;

/** The lease and renewal times of each move measurement. */
export const MOVE_TIMINGS: Readonly<
  Record<MoveName, { readonly leaseMs: number; readonly renewMs: number }>
> = {
  move: { leaseMs: 3_000, renewMs: 1_000 },
  "move-2s": { leaseMs: 2_000, renewMs: 500 },
};
