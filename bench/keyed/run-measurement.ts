/**
 * One keyed measurement on one runtime: the instance processes it needs (peers/instance.ts) and
 * then its measuring process, every one on the runtime under test, or the move measurement
 * (run-move.ts). Every process is gone when it returns; a failure is reported, not thrown
 * (shared/with-children.ts).
 */
import type { Site } from "../shared/measurement.ts";
import { withChildren } from "../shared/with-children.ts";
import { parseActivationLine, parseCallsLine, parseMemoryLine } from "./child-line.ts";
import type { MeasurementName } from "./measurements.ts";
import type { MeasurementRun } from "./results.ts";
import { measureMove } from "./run-move.ts";
import type { RunOptions } from "./run-options.ts";
import { startInstance } from "./start-instance.ts";

/** What the measuring processes spend besides their measured calls: connecting, waiting for owners. */
const CLIENT_OVERHEAD_MS = 60_000;
/** A generous time per call made one after the other, for the budgets below. */
const SLOW_CALL_MS = 10;

export function runMeasurement(site: Site<MeasurementName>, options: RunOptions): Promise<MeasurementRun> {
  switch (site.peer) {
    case "plain":
    case "keyed":
      return measureCalls(site, site.peer, options);
    case "activation":
      return measureActivation(site, options);
    case "memory":
      return measureMemory(site, options);
    case "move":
    case "move-2s":
      return measureMove(site, site.peer, options);
  }
}

function measureCalls(
  site: Site<MeasurementName>,
  service: "plain" | "keyed",
  options: RunOptions,
): Promise<MeasurementRun> {
  return withChildren(site.repoRoot, async (children) => {
    const instance = await startInstance(children, site, ["--service", service]);
    const client = children.spawn(
      site.runtime,
      "bench/keyed/calls.ts",
      [
        ...["--service", service, "--nats-url", site.natsUrl, "--instance", instance.id],
        ...["--keys", String(options.keys)],
        ...["--payload-bytes", String(options.payloadBytes), "--in-flight", String(options.inFlight)],
        ...["--calls", String(options.calls), "--warmup-calls", String(options.warmupCalls)],
        ...["--seconds", String(options.seconds), "--warmup-seconds", String(options.warmupSeconds)],
      ],
      parseCallsLine,
    );
    const budgetMs =
      CLIENT_OVERHEAD_MS +
      2 *
        (1000 * (options.seconds + options.warmupSeconds) +
          SLOW_CALL_MS * (options.calls + options.warmupCalls));
    const line = await client.nextLine(budgetMs);
    return {
      kind: "result",
      runtimeVersion: line.runtime,
      result: { measurement: "calls", methods: line.methods },
    };
  });
}

function measureActivation(site: Site<MeasurementName>, options: RunOptions): Promise<MeasurementRun> {
  return withChildren(site.repoRoot, async (children) => {
    await startInstance(children, site, ["--service", "keyed"]);
    const client = children.spawn(
      site.runtime,
      "bench/keyed/activation.ts",
      [
        ...["--nats-url", site.natsUrl, "--calls", String(options.activations)],
        ...["--warmup-calls", String(options.warmupCalls), "--payload-bytes", String(options.payloadBytes)],
      ],
      parseActivationLine,
    );
    const line = await client.nextLine(
      CLIENT_OVERHEAD_MS + SLOW_CALL_MS * (2 * options.warmupCalls + 4 * options.activations),
    );
    const { kind: _kind, runtime, ...latencies } = line;
    return { kind: "result", runtimeVersion: runtime, result: { measurement: "activation", ...latencies } };
  });
}

function measureMemory(site: Site<MeasurementName>, options: RunOptions): Promise<MeasurementRun> {
  return withChildren(site.repoRoot, async (children) => {
    const idleMs = String(options.idleMs);
    const instance = await startInstance(children, site, ["--service", "keyed", "--idle-ms", idleMs]);
    const client = children.spawn(
      site.runtime,
      "bench/keyed/memory.ts",
      [
        ...["--nats-url", site.natsUrl, "--instance", instance.id, "--idle-ms", idleMs],
        ...["--active-keys", String(options.activeKeys), "--passivated-keys", String(options.passivatedKeys)],
      ],
      parseMemoryLine,
    );
    // The calls (at least 1,000 a second even here), three passivations, and the probes.
    const budgetMs =
      CLIENT_OVERHEAD_MS + (options.activeKeys + options.passivatedKeys) + 3 * (options.idleMs + 30_000);
    const line = await client.nextLine(budgetMs);
    const { kind: _kind, runtime, ...samples } = line;
    return { kind: "result", runtimeVersion: runtime, result: { measurement: "memory", ...samples } };
  });
}
