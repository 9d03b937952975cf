/**
 * One adoption measurement on one runtime: the actor's startup or its floor's (measure-startup.ts), or the
 * discovery of the instances that `--processes` fleet processes serve, or the events process.
 * Every process is gone when it returns; a failure is reported, not thrown
 * (shared/with-children.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { collectingIo } from "../../runtime/cli/command-io.ts";
import { runBuild } from "../../runtime/cli/commands/build-command.ts";
import { childLineParser, type ReadyLine } from "../shared/child-line.ts";
import type { Site } from "../shared/measurement.ts";
import { withChildren } from "../shared/with-children.ts";
import { parseDiscoveryLine, parseEventsLine } from "./child-line.ts";
import { measureStartup, STARTUP_FILES } from "./measure-startup.ts";
import type { MeasurementName } from "./measurements.ts";
import type { MeasurementRun } from "./results.ts";
import type { RunOptions } from "./run-options.ts";

/** Time for a fleet process to start its instances: each takes a connection and a few round trips. */
const FLEET_START_TIMEOUT_MS = 180_000;
/** Time for one discovery (warm-up included) at most: the client's own waits are seconds long. */
const DISCOVERY_TIMEOUT_MS = 30_000;

const parseReadyLine = childLineParser<ReadyLine>(["ready"]);

export function runMeasurement(site: Site<MeasurementName>, options: RunOptions): Promise<MeasurementRun> {
  switch (site.peer) {
    case "startup":
    case "bare":
      return measureStartup(site, site.peer, options, STARTUP_FILES[site.peer]);
    case "bundled":
      return measureBundled(site, options);
    case "discovery":
      return measureDiscovery(site, options);
    case "events":
      return measureEvents(site, options);
  }
}

/**
 * The startup actor bundled by `troupe build` into a scratch folder (not timed), for Bun on Bun
 * and for Node on Node and Deno, then started and timed as the sources are.
 */
async function measureBundled(site: Site<MeasurementName>, options: RunOptions): Promise<MeasurementRun> {
  const outdir = mkdtempSync(join(tmpdir(), "troupe-adoption-bundle-"));
  try {
    const io = collectingIo();
    const build = {
      files: [STARTUP_FILES.startup],
      target: site.runtime === "bun" ? ("bun" as const) : ("node" as const),
      outdir,
      sourcemap: true,
    };
    if ((await runBuild(build, site.repoRoot, io)) !== 0) {
      return { kind: "failed", reason: `troupe build failed: ${io.errLines.join("\n")}` };
    }
    // The driver's spawn takes files relative to the repository.
    const bundle = join(outdir, STARTUP_FILES.startup.replace(/\.ts$/, ".js"));
    return await measureStartup(site, "bundled", options, relative(site.repoRoot, bundle));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function measureDiscovery(
  { runtime, natsUrl, repoRoot }: Site<MeasurementName>,
  options: RunOptions,
): Promise<MeasurementRun> {
  return withChildren(repoRoot, async (children) => {
    const fleets = Array.from({ length: options.processes }, (_, i) => {
      // The instances split as evenly as they go: 1,000 over 4 is 250 each.
      const count =
        Math.floor(options.instances / options.processes) +
        (i < options.instances % options.processes ? 1 : 0);
      return children.spawn(
        runtime,
        "bench/adoption/peers/fleet.ts",
        ["--nats-url", natsUrl, "--instances", String(count)],
        parseReadyLine,
      );
    });
    await Promise.all(fleets.map((fleet) => fleet.nextLine(FLEET_START_TIMEOUT_MS)));
    const client = children.spawn(
      runtime,
      "bench/adoption/discover.ts",
      [
        ...["--nats-url", natsUrl, "--instances", String(options.instances)],
        ...["--discoveries", String(options.discoveries)],
      ],
      parseDiscoveryLine,
    );
    const line = await client.nextLine(DISCOVERY_TIMEOUT_MS * (options.discoveries + 1));
    return {
      kind: "result",
      runtimeVersion: line.runtime,
      result: { measurement: "discovery", instances: line.instances, runs: line.runs },
    };
  });
}

function measureEvents(
  { runtime, natsUrl, repoRoot }: Site<MeasurementName>,
  options: RunOptions,
): Promise<MeasurementRun> {
  return withChildren(repoRoot, async (children) => {
    const child = children.spawn(
      runtime,
      "bench/adoption/event-latency.ts",
      [
        ...["--nats-url", natsUrl, "--rate", String(options.eventRate)],
        ...["--seconds", String(options.seconds), "--warmup-seconds", String(options.warmupSeconds)],
      ],
      parseEventsLine,
    );
    // The run itself, the handlers' catching up (30 s at most), and starting and stopping.
    const line = await child.nextLine(1000 * (options.warmupSeconds + options.seconds) + 60_000);
    const { kind: _kind, runtime: version, ...events } = line;
    return { kind: "result", runtimeVersion: version, result: { measurement: "events", events } };
  });
}
