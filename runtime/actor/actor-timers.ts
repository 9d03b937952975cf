/**
 * The periodic work of an actor instance (`ctx.every`): sweeps, expiries, refreshes. Timers are
 * declared while the actor is set up and start once it serves (its streams exist, so a first run
 * can publish); each one's runs never overlap (the next wait starts when a run ends, so a slow
 * run delays the next instead of piling up); drain stops them: no run starts after it began,
 * and the run in progress is awaited (its signal aborted) before the actor's `stop`.
 *
 * A run is not part of a call (timers start from `serveActor`, never from a handler), so its
 * calls and publishes take their own timeouts, not a handler's remaining time. A run that
 * throws is logged and the timer goes on: the next run is the retry.
 */
import { errorFields, type Logger } from "../observability/logger.ts";

export interface TimerOptions {
  /**
   * Each wait is the interval times a random factor from `1 - jitter` to `1 + jitter` (0 to 1),
   * so that instances started together drift apart instead of running in step.
   */
  readonly jitter: number;
  /** Runs once as soon as the actor serves, then after every interval (false: first after one interval). */
  readonly immediately: boolean;
  /** Names the timer in the log line of a failed run. */
  readonly name: string;
}

export const defaultTimerOptions: TimerOptions = { jitter: 0, immediately: false, name: "timer" };

/** One run: its signal aborts when the actor drains, so a long run can end early. */
export type TimerRun = (signal: AbortSignal) => unknown;

export interface ActorTimers {
  /** Declares a timer; throws once the timers have started (declare them in `setup`). */
  every(intervalMs: number, run: TimerRun, options?: Partial<TimerOptions>): void;
  /** Starts every declared timer. */
  start(): void;
  /** Stops every timer: no run starts any more; resolves when the runs in progress have ended. */
  stop(): Promise<void>;
}

export function createActorTimers(logger: Logger): ActorTimers {
  const declared: (() => void)[] = [];
  const running = new Set<Promise<void>>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const stopping = new AbortController();
  let started = false;

  const schedule = (intervalMs: number, run: TimerRun, options: TimerOptions) => {
    const once = () => {
      const done = (async () => {
        try {
          await run(stopping.signal);
        } catch (err) {
          logger.log("warn", "a timer's run failed; the next run tries again", {
            timer: options.name,
            ...errorFields(err),
          });
        }
      })();
      running.add(done);
      void done.then(() => {
        running.delete(done);
        wait();
      });
    };
    const wait = () => {
      if (stopping.signal.aborted) return;
      const factor = 1 - options.jitter + 2 * options.jitter * Math.random();
      const timer = setTimeout(() => {
        timers.delete(timer);
        once();
      }, intervalMs * factor);
      timers.add(timer);
    };
    if (options.immediately) once();
    else wait();
  };

  return {
    every(intervalMs, run, partial = {}) {
      if (started) throw new Error("ctx.every: declare timers in setup, before the actor serves");
      const options = { ...defaultTimerOptions, ...partial };
      if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
        throw new RangeError(`ctx.every: intervalMs must be > 0, got ${intervalMs}`);
      }
      if (!(options.jitter >= 0 && options.jitter <= 1)) {
        throw new RangeError(`ctx.every: jitter must be from 0 to 1, got ${options.jitter}`);
      }
      declared.push(() => schedule(intervalMs, run, options));
    },
    start() {
      if (started) return;
      started = true;
      for (const start of declared) start();
    },
    async stop() {
      started = true;
      stopping.abort(new Error("the actor is draining"));
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(running);
    },
  };
}
