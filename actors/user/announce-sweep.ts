/**
 * The sweep that closes the registration's crash window: a RegisterUser call that dies after
 * the email claim and is never retried leaves its registration in the outbox (user-store.ts),
 * and every user instance announces such registrations, at start and then about every
 * `intervalMs`, once they are older than `graceMs`.
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
 * - Passes of one instance never overlap (the next is scheduled when one ends); `stop` cancels
 *   the next and waits for the one in progress.
 */
import { errorFields, type Logger } from "../../runtime/mod.ts";
import type { Announce, PendingSweep, UserStore } from "./user-store.ts";

export interface AnnounceSweepOptions {
  /** The mean time between two passes of one instance, in milliseconds (> 0). */
  readonly intervalMs: number;
  /** How old a registration must be before a sweep announces it, in milliseconds (>= 0). */
  readonly graceMs: number;
  /** Called after every pass with what it found (tests await it). */
  readonly swept: (sweep: PendingSweep) => void;
}

export const defaultAnnounceSweepOptions: AnnounceSweepOptions = {
  intervalMs: 30_000,
  // Longer than a RegisterUser call lasts, and short enough that a sweep's publish usually
  // lands within the duplicate window (2 min) of a publish the dead call made before dying.
  graceMs: 30_000,
  swept: () => undefined,
};

/** Each wait is the interval times a factor from 1 - JITTER to 1 + JITTER. */
const JITTER = 0.2;

export interface AnnounceSweep {
  /** Runs a pass now, then one about every interval, until `stop`. */
  start(): void;
  /** Cancels the next pass and waits for the one in progress. */
  stop(): Promise<void>;
}

export function createAnnounceSweep(
  users: UserStore,
  announce: Announce,
  logger: Logger,
  partial: Partial<AnnounceSweepOptions> = {},
): AnnounceSweep {
  const { intervalMs, graceMs, swept } = resolveAnnounceSweepOptions(partial);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const pass = async () => {
    try {
      const sweep = await users.announcePending(announce, Date.now() - graceMs);
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
      swept(sweep);
    } catch (err) {
      logger.log("warn", "sweeping unannounced registrations failed; the next sweep tries again", {
        ...errorFields(err),
      });
    }
  };

  const run = () => {
    timer = undefined;
    running = pass().finally(() => {
      running = undefined;
      if (!stopped) timer = setTimeout(run, intervalMs * (1 - JITTER + 2 * JITTER * Math.random()));
    });
  };

  return {
    start() {
      if (stopped || timer !== undefined || running !== undefined) return;
      run();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}

/** The options with defaults filled in; a RangeError names a bad one. */
export function resolveAnnounceSweepOptions(partial: Partial<AnnounceSweepOptions>): AnnounceSweepOptions {
  const options = { ...defaultAnnounceSweepOptions, ...partial };
  if (!(Number.isFinite(options.intervalMs) && options.intervalMs > 0)) {
    throw new RangeError(`the announce sweep's intervalMs must be > 0, got ${options.intervalMs}`);
  }
  if (!(Number.isFinite(options.graceMs) && options.graceMs >= 0)) {
    throw new RangeError(`the announce sweep's graceMs must be >= 0, got ${options.graceMs}`);
  }
  return options;
}
