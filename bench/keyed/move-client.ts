/**
 * The move measurement's client process, against keyed instances the driver runs (run-move.ts):
 * one loop per partition reads a key of that partition, one call after the other (`--pause-ms`
 * after each answer, so that the loops do not take the CPU the instances need), each with a
 * deadline of `--call-timeout-ms` (inside which Troupe's transport sends a call that found no
 * owner again after 20, 40 … 500 ms), and the client watches the partitions' leases in the
 * placement bucket. It writes a "move-ready" line once every partition has answered, then
 * answers the driver on two subjects (KILL_SUBJECT, STATUS_SUBJECT):
 * - kill `{ pid, instance }`: notes the time, SIGKILLs the instance's process, and from then on
 *   records for each partition the end of its first successful call that started after the
 *   kill, when the victim's membership expired, and when each of its partitions' leases was
 *   taken by another instance (all in ms after the kill);
 * - status: those records, and whether every partition's last call succeeded.
 * The kill is sent from here so that every time is read on one clock.
 *
 *   <runtime> bench/keyed/move-client.ts --nats-url nats://127.0.0.1:4333 [--call-timeout-ms 1000] [--pause-ms 10]
 */
import { parseArgs } from "node:util";
import { Kvm, type KvWatchEntry } from "@nats-io/kv";
import { connect } from "troupe";
import { KeyedCounterService } from "../../proto/gen/troupe/bench/v1/keyed_bench_pb.ts";
import { placementBucketName } from "../../runtime/protocol/subjects.ts";
import { writeChildLine } from "../shared/child-line.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";
import { counterClient } from "./counter-client.ts";
import {
  KILL_SUBJECT,
  type KillRequest,
  type MoveReadyLine,
  type MoveStatus,
  type PartitionMove,
  STATUS_SUBJECT,
} from "./move-protocol.ts";
import { keysOfEveryPartition, untilEveryPartitionAnswers } from "./partition-keys.ts";

const { values } = parseArgs({
  options: {
    "nats-url": { type: "string" },
    "call-timeout-ms": { type: "string", default: "1000" },
    "pause-ms": { type: "string", default: "10" },
  },
});
const natsUrl = values["nats-url"];
if (natsUrl === undefined) throw new Error("--nats-url is required");
const callTimeoutMs = Number(values["call-timeout-ms"]);
const pauseMs = Number(values["pause-ms"]);

const nc = await connect({ servers: natsUrl });
const client = counterClient(nc, "keyed", 16);
await untilEveryPartitionAnswers(client);
const keys = keysOfEveryPartition("move-");

/** The current kill: its time, and what each partition did since. */
let kill:
  | {
      readonly at: number;
      readonly instance: string;
      /** The lease holders when the kill was sent. */
      readonly holders: ReadonlyMap<number, string>;
      readonly partitions: PartitionMove[];
      memberGoneMs: number | undefined;
    }
  | undefined;
const lastOk = keys.map(() => false);

// The partitions' leases, `<Service>.p.<n>` holding `{"instance": id}`, and the memberships.
const prefix = `${KeyedCounterService.typeName}.`;
const holders = new Map<number, string>();
const kv = await new Kvm(nc).open(placementBucketName());
const watch = await kv.watch({ key: `${prefix}>` });
void (async () => {
  for await (const entry of watch) onPlacement(entry);
})();

function onPlacement(entry: KvWatchEntry): void {
  const rest = entry.key.slice(prefix.length);
  const since = kill === undefined ? undefined : performance.now() - kill.at;
  if (rest.startsWith("m.")) {
    if (kill !== undefined && entry.operation !== "PUT" && rest.slice(2) === kill.instance) {
      kill.memberGoneMs ??= since;
    }
    return;
  }
  if (!rest.startsWith("p.") || entry.operation !== "PUT") return;
  const p = Number(rest.slice(2));
  const holder = (JSON.parse(entry.string()) as { instance?: string }).instance ?? "";
  holders.set(p, holder);
  const move = kill?.partitions[p];
  if (kill !== undefined && move !== undefined && move.leaseMs === null && holder !== kill.holders.get(p)) {
    move.leaseMs = since ?? null;
  }
}

// One loop per partition, for as long as the process runs.
for (const [p, key] of keys.entries()) {
  void (async () => {
    for (;;) {
      const started = performance.now();
      let ok = true;
      try {
        await client.read(key, { timeoutMs: callTimeoutMs });
      } catch {
        ok = false;
      }
      lastOk[p] = ok;
      const move = kill?.partitions[p];
      if (kill !== undefined && move !== undefined && started >= kill.at) {
        if (ok) move.answeredMs ??= performance.now() - kill.at;
        else if (move.answeredMs === null) move.failures++;
      }
      // A failed call is sent again at once: the transport has already waited between its attempts.
      if (ok) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  })();
}

nc.subscribe(KILL_SUBJECT, {
  callback: (err, msg) => {
    if (err !== null) return;
    const request = msg.json<KillRequest>();
    kill = {
      at: performance.now(),
      instance: request.instance,
      holders: new Map(holders),
      partitions: keys.map((_, p) => ({
        partition: p,
        heldByVictim: holders.get(p) === request.instance,
        answeredMs: null,
        leaseMs: null,
        failures: 0,
      })),
      memberGoneMs: undefined,
    };
    process.kill(request.pid, "SIGKILL");
    msg.respond();
  },
});
nc.subscribe(STATUS_SUBJECT, {
  callback: (err, msg) => {
    if (err !== null) return;
    const status: MoveStatus = {
      answering: lastOk.every(Boolean),
      partitions: kill?.partitions ?? [],
      memberGoneMs: kill?.memberGoneMs ?? null,
    };
    msg.respond(JSON.stringify(status));
  },
});
await nc.flush();
writeChildLine({ kind: "move-ready", runtime: runtimeLabel() } satisfies MoveReadyLine);
