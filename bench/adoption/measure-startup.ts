/**
 * The startup measurements, driver side: spawns the actor process (peers/bench-actor.ts, or its
 * bundle made by `troupe build` for `bundled`), or for the floor the bare nats.js responder
 * (peers/bare-responder.ts), on the runtime under test and asks `$SRV.PING.adoption-bench` every few milliseconds from the moment
 * of the spawn until it answers: the time from process start to discoverable. Then lets the
 * actor idle and reads its resident memory from /proc/<pid>/status (VmRSS). Each start is a
 * fresh process, stopped (SIGTERM: it drains and exits) before the next.
 */
import { readFileSync } from "node:fs";
import { Empty, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "troupe";
import { ServiceMetadata } from "troupe/discovery";
import { ServiceVerb, serviceVerbSubject } from "troupe/protocol";
import type { Site } from "../shared/measurement.ts";
import { withChildren } from "../shared/with-children.ts";
import { type MeasurementName, STARTUP_ACTOR } from "./measurements.ts";
import type { MeasurementRun, StartMeasurement, StartResult } from "./results.ts";
import type { RunOptions } from "./run-options.ts";

/** The process each startup measurement starts (`bundled`: the bundle of the first). */
export const STARTUP_FILES = {
  startup: "bench/adoption/peers/bench-actor.ts",
  bare: "bench/adoption/peers/bare-responder.ts",
} as const;
/** How long an actor may take to answer before the start counts as failed. */
const START_TIMEOUT_MS = 30_000;
/** The pause between two asks: the resolution of the figure. */
const POLL_MS = 2;
/** How long one ask waits for an answer (an absent actor is answered "no responders" at once). */
const ASK_TIMEOUT_MS = 200;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureStartup(
  site: Site<MeasurementName>,
  measurement: StartMeasurement,
  options: RunOptions,
  file: string,
): Promise<MeasurementRun> {
  const subject = serviceVerbSubject(ServiceVerb.PING, STARTUP_ACTOR);
  // The actor reads NATS_URL, as a user's actor process does; the children inherit it.
  process.env.NATS_URL = site.natsUrl;
  const nc = await connect({ servers: site.natsUrl });
  const starts: StartResult[] = [];
  let runtimeVersion = site.runtime as string;
  try {
    for (let i = 0; i < options.starts; i++) {
      const run = await withChildren(site.repoRoot, async (children) => {
        const spawned = performance.now();
        const actor = children.spawn(site.runtime, file, ["--subject", subject], () => undefined);
        // The actor writes no line for the driver: this rejects when it exits or times out.
        const exited: Promise<never> = actor.nextLine(START_TIMEOUT_MS).then(() => {
          throw new Error("the actor wrote a line for the driver");
        });
        exited.catch(() => {}); // observed by the race; rejects again when the actor is stopped
        const asking = { on: true };
        const answer = await Promise.race([untilAnswered(nc, subject, asking), exited]).finally(
          () => (asking.on = false),
        );
        const readyMs = performance.now() - spawned;
        runtimeVersion = answer.metadata?.[ServiceMetadata.runtime] ?? runtimeVersion;
        await sleep(options.idleSeconds * 1000);
        if (actor.pid === undefined) throw new Error("the actor process has no pid");
        return { readyMs, rssMB: rssMB(actor.pid) };
      });
      if ("kind" in run) return run;
      starts.push(run);
    }
  } finally {
    await nc.close();
  }
  return { kind: "result", runtimeVersion, result: { measurement, starts } };
}

/** Asks `subject` until an instance answers (or `asking.on` turns false), and returns the answer. */
async function untilAnswered(
  nc: NatsConnection,
  subject: string,
  asking: { on: boolean },
): Promise<{ metadata?: Record<string, string> }> {
  while (asking.on) {
    try {
      const msg = await nc.request(subject, Empty, { timeout: ASK_TIMEOUT_MS });
      return msg.json();
    } catch {
      await sleep(POLL_MS); // no responders yet
    }
  }
  return {};
}

/** VmRSS of `pid` in MB (10⁶ bytes); /proc reports it in kB (KiB). */
function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kB = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kB === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return (Number(kB) * 1024) / 1e6;
}
