/**
 * The faults the chaos suite injects while the load runs, one every `faultEveryMs`, in rounds:
 * each actor process SIGKILLed in turn (troupe dev restarts it), then the nats-server faults of
 * the topology (tests/chaos/nats-faults.ts): a pause (SIGSTOP … SIGCONT), a restart on the same
 * port and store, and on a cluster one node killed and brought back later. Each injected fault is
 * recorded with its time, target and what followed.
 */
import { processRunning } from "../../runtime/platform/spawn-process.ts";
import type { DevShop } from "./dev-shop.ts";

export interface Fault {
  /** e.g. "SIGKILL actor", "pause nats-server" */
  readonly kind: string;
  /** e.g. "billing", "node troupe-2" */
  readonly target: string;
  /** Injects the fault; resolves with what happened, once the fault is over (a pause lifted). */
  inject(): Promise<string>;
}

export interface InjectedFault {
  readonly kind: string;
  readonly target: string;
  /** Milliseconds since the load started. */
  readonly atMs: number;
  readonly durationMs: number;
  readonly detail: string;
  readonly failed: boolean;
}

/** A SIGKILL of one actor's current process; the detail says when troupe dev had a new one. */
export function killActor(dev: DevShop, name: string): Fault {
  return {
    kind: "SIGKILL actor",
    target: name,
    async inject() {
      const pid = dev.actorPids().get(name);
      if (pid === undefined || !processRunning(pid)) return `no running ${name} process to kill`;
      const killedAt = Date.now();
      process.kill(pid, "SIGKILL");
      for (let waited = 0; waited < 60_000; waited += 100) {
        const now = dev.actorPids().get(name);
        if (now !== undefined && now !== pid) {
          return `pid ${pid} killed; troupe dev started pid ${now} ${((Date.now() - killedAt) / 1000).toFixed(1)} s later`;
        }
        await sleep(100);
      }
      return `pid ${pid} killed; no new process within 60 s`;
    },
  };
}

/**
 * Runs `faults` round after round, one every `everyMs` (the first after `everyMs / 2`), until
 * `untilMs` (epoch) but at least one whole round, so that every fault is injected once; a fault
 * still running delays the next. Resolves with what was injected.
 */
export async function injectFaults(
  faults: readonly Fault[],
  options: { readonly startedAt: number; readonly everyMs: number; readonly untilMs: number },
  onFault: (fault: InjectedFault) => void = () => {},
): Promise<InjectedFault[]> {
  const injected: InjectedFault[] = [];
  let next = options.startedAt + options.everyMs / 2;
  for (let i = 0; faults.length > 0; i++) {
    const fault = faults[i % faults.length] as Fault;
    await sleep(next - Date.now());
    if (i >= faults.length && Date.now() >= options.untilMs) break;
    const at = Date.now();
    let detail: string;
    let failed = false;
    try {
      detail = await fault.inject();
    } catch (err) {
      detail = `could not inject: ${err instanceof Error ? err.message : String(err)}`;
      failed = true;
    }
    const done: InjectedFault = {
      kind: fault.kind,
      target: fault.target,
      atMs: at - options.startedAt,
      durationMs: Date.now() - at,
      detail,
      failed,
    };
    injected.push(done);
    onFault(done);
    next = Math.max(next + options.everyMs, Date.now());
  }
  return injected;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
