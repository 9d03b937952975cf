/**
 * `<data dir>/troupe-dev.json`: what a running `troupe dev` started (its own pid, the
 * nats-server, every actor's and service's pid and command) and where to reach it. It serves three readers:
 * a second `troupe dev` on the same data refuses to start next to a live one; one that follows an
 * orchestrator killed with SIGKILL stops the actors that were left behind; and other commands
 * (`troupe services`) and tests find the NATS URL and the pids there. Removed on a clean stop.
 */
import { joinPath, readTextFile, removeFile, writeFileAtomically } from "../../platform/files.ts";
import { processCommandLine, processRunning, signalProcess } from "../../platform/spawn-process.ts";

export interface DevProcessRecord {
  readonly name: string;
  readonly pid: number;
  /**
   * What its command line holds (an actor's main file, a service's arguments): a leftover is
   * killed only if its command line still holds it (pids are reused).
   */
  readonly file: string;
}

export interface DevState {
  /** The orchestrator's pid. */
  readonly pid: number;
  /** False while starting; true once every process is discoverable. */
  readonly ready: boolean;
  readonly natsUrl: string;
  /**
   * The operator's creds file (`<data dir>/auth/cli.creds`) when the nats-server runs with
   * authentication: what a tool or test connects with. Undefined without authentication.
   */
  readonly natsCreds?: string | undefined;
  /** The CA of the nats-server's TLS certificate (`<data dir>/tls/ca.pem`); undefined without TLS. */
  readonly natsCa?: string | undefined;
  /** The nats-server's pid when `troupe dev` runs it (not with an external NATS_URL). */
  readonly natsServerPid: number | undefined;
  readonly gatewayUrl: string | undefined;
  /** The actors, the gateway among them. */
  readonly processes: readonly DevProcessRecord[];
  /** The extra processes of troupe.json `services`. */
  readonly services: readonly DevProcessRecord[];
}

export const DEV_STATE_FILE = "troupe-dev.json";

export function readDevState(dataDir: string): DevState | undefined {
  const text = readTextFile(joinPath(dataDir, DEV_STATE_FILE));
  if (text === undefined) return undefined;
  try {
    const state = JSON.parse(text) as DevState;
    return Number.isInteger(state.pid) && Array.isArray(state.processes) ? state : undefined;
  } catch {
    return undefined;
  }
}

export function writeDevState(dataDir: string, state: DevState): void {
  writeFileAtomically(joinPath(dataDir, DEV_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

export function removeDevState(dataDir: string): void {
  removeFile(joinPath(dataDir, DEV_STATE_FILE));
}

/** True when the orchestrator of `state` still runs (and is not this process). */
export function isRunning(state: DevState, selfPid: number): boolean {
  return state.pid !== selfPid && processRunning(state.pid) && processCommandLine(state.pid).includes(" dev");
}

/** SIGKILLs the children a dead orchestrator left running; returns their names. */
export function reapLeftoverProcesses(state: DevState): string[] {
  const reaped: string[] = [];
  // (The status file of an older troupe dev has no `services`.)
  for (const child of [...state.processes, ...(state.services ?? [])]) {
    if (processRunning(child.pid) && processCommandLine(child.pid).includes(child.file)) {
      signalProcess(child.pid, "SIGKILL");
      reaped.push(`${child.name} (pid ${child.pid})`);
    }
  }
  return reaped;
}
