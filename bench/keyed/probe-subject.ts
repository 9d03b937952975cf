/**
 * The subjects on which an instance of the keyed benchmark answers the measuring processes about
 * itself (peers/instance.ts), outside Troupe's subject space (`rpc.`, `$SRV.`), one set per
 * instance id:
 * - memory: a full collection (force-gc.ts), then its memory (a MemorySample);
 * - cpu: the CPU time the process has used so far (a CpuSample), to divide by the calls served.
 */

export function probeSubject(instanceId: string, probe: "memory" | "cpu"): string {
  return `bench.keyed.probe.${instanceId}.${probe}`;
}

/** The CPU time (user and system) a process has used since it started, in µs. */
export interface CpuSample {
  readonly cpuUs: number;
}

/** This process's CpuSample. */
export function cpuSample(): CpuSample {
  const { user, system } = process.cpuUsage();
  return { cpuUs: user + system };
}
