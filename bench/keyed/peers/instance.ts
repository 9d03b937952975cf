/**
 * One actor instance of the keyed benchmark, as its own process: the keyed counter or the plain
 * one (counter-actors.ts) served by `serveActor` on its own connection. Writes an "instance" line
 * with its id once it serves, answers its probes (probe-subject.ts: its memory after a full
 * collection, its CPU time so far), and drains on SIGTERM/SIGINT. A SIGKILL is what the move
 * measurement sends.
 *
 *   <runtime> bench/keyed/peers/instance.ts --nats-url nats://127.0.0.1:4333 --service keyed \
 *     [--idle-ms 300000] [--lease-ms 3000] [--renew-ms 1000]
 */
import { parseArgs } from "node:util";
import { connect, serveActor, silentLogger } from "troupe";
import { writeChildLine } from "../../shared/child-line.ts";
import { runtimeLabel } from "../../shared/runtime-label.ts";
import type { InstanceLine, MemorySample } from "../child-line.ts";
import { keyedCounterActor, plainCounterActor } from "../counter-actors.ts";
import { forceGc, gcMethod } from "../force-gc.ts";
import { cpuSample, probeSubject } from "../probe-subject.ts";

/** How long draining lets calls in progress finish. */
const DRAIN_MS = 1_000;

const { values } = parseArgs({
  options: {
    "nats-url": { type: "string" },
    service: { type: "string", default: "keyed" },
    "idle-ms": { type: "string" },
    "lease-ms": { type: "string" },
    "renew-ms": { type: "string" },
  },
});
const natsUrl = values["nats-url"];
if (natsUrl === undefined) throw new Error("--nats-url is required");
const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));

const actor =
  values.service === "plain"
    ? plainCounterActor
    : keyedCounterActor({
        idleMs: number(values["idle-ms"]),
        leaseMs: number(values["lease-ms"]),
        renewMs: number(values["renew-ms"]),
      });
const runtime = runtimeLabel();
const nc = await connect({ servers: natsUrl });
const running = await serveActor(nc, actor, { logger: silentLogger, runtime });

nc.subscribe(probeSubject(running.id, "cpu"), {
  callback: (err, msg) => {
    if (err === null) msg.respond(JSON.stringify(cpuSample()));
  },
});
nc.subscribe(probeSubject(running.id, "memory"), {
  callback: (err, msg) => {
    if (err !== null) return;
    void forceGc().then(() => {
      const usage = process.memoryUsage();
      const sample: MemorySample = {
        rssBytes: usage.rss,
        heapUsedBytes: usage.heapUsed,
        heapTotalBytes: usage.heapTotal,
        externalBytes: usage.external,
        gc: gcMethod,
      };
      msg.respond(JSON.stringify(sample));
    });
  },
});
await nc.flush();

const stop = () => {
  running
    .drain(DRAIN_MS)
    .then(() => nc.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
writeChildLine({ kind: "instance", id: running.id, runtime } satisfies InstanceLine);
