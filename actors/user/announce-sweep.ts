/**
 * The sweep that closes the registration's crash window: a RegisterUser call that dies after
 * the email claim and is never retried leaves its registration in the outbox (user-store.ts),
 * and every user instance announces such registrations, at start and then about every
 * `intervalMs` (a timer of the actor's context, `ctx.every`), once they are older than `graceMs`.
 *
 * - The grace keeps a sweep from racing a call that is still completing. It is a courtesy, not
 *   what makes a race safe: the sweep writes the user before announcing it, the announcement is
 *   idempotent (same message id, dropped by the stream's duplicate window) and the marker is a
 *   first-writer-wins claim, so an early sweep costs one dropped publish. The age is the user's
 *   `created_at`, from the clock of the instance that took the call, so clock skew between
 *   hosts lengthens or shortens the grace, and nothing else.
 * - Every instance sweeps, with no leader: two passes over one registration both publish the
 *   same message, and the stream stores it once. Each wait is jittered (±20 %) so that
 *   instances started together drift apart.
 * - Passes of one instance never overlap, and drain waits for the one in progress (ctx.every).
 */
import { type ActorContext, errorFields, type Logger } from "troupe";
import type { Announce, PendingSweep, UserStore } from "./user-store.ts";

export interface AnnounceSweepOptions {
  /** The mean time between two passes of one instance, in milliseconds (> 0). */
  readonly intervalMs: number;
  /** How old a registration must be before a sweep announces it, in milliseconds (>= 0). */
  readonly graceMs: number;
}

export const defaultAnnounceSweepOptions: AnnounceSweepOptions = {
  intervalMs: 30_000,
  // Longer than a RegisterUser call lasts, and short enough that a sweep's publish usually
  // lands within the duplicate window (2 min) of a publish the dead call made before dying.
  graceMs: 30_000,
};

/** Starts the sweep of one instance: a pass as soon as the actor serves, then about every interval. */
export function sweepAnnouncements(
  ctx: Pick<ActorContext, "every" | "logger">,
  users: UserStore,
  announce: Announce,
  partial: Partial<AnnounceSweepOptions>,
): void {
  const { intervalMs, graceMs } = { ...defaultAnnounceSweepOptions, ...partial };
  if (!(Number.isFinite(graceMs) && graceMs >= 0)) {
    throw new RangeError(`the announce sweep's graceMs must be >= 0, got ${graceMs}`);
  }
  const pass = async () => report(ctx.logger, await users.announcePending(announce, Date.now() - graceMs));
  ctx.every(intervalMs, pass, { immediately: true, jitter: 0.2, name: "announce sweep" });
}

/** Logs what a pass did; returns it (the run's result, which a test observing the timer sees). */
function report(logger: Logger, sweep: PendingSweep): PendingSweep {
  if (sweep.announced.length > 0) {
    logger.log("info", "announced registrations that their call left unannounced", {
      users: sweep.announced,
    });
  }
  for (const { userId, error } of sweep.failed) {
    logger.log("warn", "announcing a registration failed; the next sweep tries again", {
      user: userId,
      ...errorFields(error),
    });
  }
  return sweep;
}
