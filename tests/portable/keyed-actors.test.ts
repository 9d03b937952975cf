/**
 * Keyed virtual actors (docs/adr/0032-keyed-virtual-actors.md), counted: the counter of
 * tests/support/counter-actor.ts on a harness nats-server. Every reply names the instance, lease
 * epoch and time of its turn, so the tests check the log of turns, not only the totals: no two
 * turns of one counter overlap in time, and a counter's turns never go back to an older epoch.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { Kvm } from "@nats-io/kv";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport, type RunningActor, serveActor, silentLogger } from "troupe";
import { serviceStats } from "troupe/discovery";
import { ActorRecordSchema } from "troupe/gen/troupe/v1/keyed_pb.js";
import { Header } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import {
  CounterService,
  CounterStateSchema,
  type CounterTurn,
} from "../../proto/gen/troupe/testing/v1/counter_pb.ts";
import { rendezvousOwner } from "../../runtime/actor/placement.ts";
import { formatStats, summarizeStats } from "../../runtime/cli/commands/stats-command.ts";
import { type ActorProcess, currentRuntime, startActorProcess } from "../support/actor-process.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { createCounterActor } from "../support/counter-actor.ts";
import { eventually } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 120_000 };

/** The counter's client, answering each call's CounterTurn. */
function counterClient(client: Client<typeof CounterService>) {
  const turn = async (response: Promise<{ turn?: CounterTurn | undefined }>) => {
    const { turn } = await response;
    assert.ok(turn !== undefined, "a reply carries its turn");
    return turn;
  };
  type Args<M extends keyof typeof client> = Parameters<(typeof client)[M]>;
  return {
    increment: (...args: Args<"increment">) => turn(client.increment(...args)),
    get: (...args: Args<"get">) => turn(client.get(...args)),
    callBack: (...args: Args<"callBack">) => turn(client.callBack(...args)),
    arm: (...args: Args<"arm">) => turn(client.arm(...args)),
    remind: (...args: Args<"remind">) => turn(client.remind(...args)),
  };
}
type CounterClient = ReturnType<typeof counterClient>;

/** Checks the log of turns: per counter, by value, epochs never decrease and turns never overlap. */
function checkTurns(replies: readonly CounterTurn[]): { counters: number; epochs: number } {
  const byCounter = new Map<string, CounterTurn[]>();
  for (const reply of replies) {
    const list = byCounter.get(reply.counterId) ?? [];
    list.push(reply);
    byCounter.set(reply.counterId, list);
  }
  const epochs = new Set<string>();
  for (const [counter, list] of byCounter) {
    list.sort((a, b) => Number(a.value - b.value));
    const owners = new Map<bigint, string>();
    for (let i = 0; i < list.length; i++) {
      const turn = list[i] as CounterTurn;
      epochs.add(`${turn.epoch}`);
      const owner = owners.get(turn.epoch);
      assert.ok(
        owner === undefined || owner === turn.instance,
        `${counter}: epoch ${turn.epoch} held by ${owner} and ${turn.instance}`,
      );
      owners.set(turn.epoch, turn.instance);
      if (i === 0) continue;
      const previous = list[i - 1] as CounterTurn;
      assert.notEqual(turn.value, previous.value, `${counter}: two turns answered value ${turn.value}`);
      assert.ok(
        turn.epoch >= previous.epoch || turn.instance === previous.instance,
        `${counter}: value ${turn.value} under epoch ${turn.epoch} after value ${previous.value} under ${previous.epoch}`,
      );
      assert.ok(
        turn.startedMs >= previous.endedMs - 2,
        `${counter}: the turn of value ${turn.value} (${turn.instance}) started ${(previous.endedMs - turn.startedMs).toFixed(1)} ms before the turn of value ${previous.value} (${previous.instance}) ended`,
      );
    }
  }
  return { counters: byCounter.size, epochs: epochs.size };
}

/** Runs `total` increments of 1 from `clients` concurrent loops over `keys` counters. */
async function count(
  client: CounterClient,
  keys: readonly string[],
  total: number,
  clients: number,
  idempotent = false,
): Promise<{ replies: CounterTurn[]; applied: number[] }> {
  const replies: CounterTurn[] = [];
  /** Operations answered `already_exists`: applied by an earlier attempt whose reply was lost. */
  const applied: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      for (let op = next++; op < total; op = next++) {
        const counterId = keys[op % keys.length] as string;
        const idempotencyKey = `op-${op}`;
        // With an idempotency key a failed attempt is retried as the same operation.
        for (let attempt = 1; ; attempt++) {
          try {
            replies.push(
              await client.increment(
                { counterId, by: 1n },
                idempotent ? { headers: { [Header.idempotencyKey]: idempotencyKey }, timeoutMs: 4_000 } : {},
              ),
            );
            break;
          } catch (err) {
            // Applied before, its reply no longer kept: the operation happened once.
            if (idempotent && err instanceof ConnectError && err.code === Code.AlreadyExists) {
              applied.push(op);
              break;
            }
            if (!idempotent || attempt >= 10) {
              throw new Error(`worker ${worker}: increment ${op} failed (attempt ${attempt})`, {
                cause: err,
              });
            }
          }
        }
      }
    }),
  );
  return { replies, applied };
}

describe("keyed actors: in-process instances", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const connections: NatsConnection[] = [];
  const running: RunningActor[] = [];
  let client: CounterClient;

  const instance = async (options: Parameters<typeof createCounterActor>[0] = {}) => {
    const own = await connect({ servers: server.url });
    connections.push(own);
    const actor = await serveActor(own, createCounterActor(options), {
      logger: silentLogger,
    });
    running.push(actor);
    return actor;
  };
  const keyedStats = async (id: string) => {
    const stats = await serviceStats(nc, { name: "counter" });
    const mine = stats.find((s) => s.id === id);
    const data = mine?.data as { keyed?: { partitions: number; active: number }[] } | undefined;
    return data?.keyed?.[0];
  };

  /** Stops what a test before left running (a failed test does not reach its own stop). */
  const stopAll = () => Promise.all(running.splice(0).map((a) => a.drain(1_000)));
  const owned = async (id: string) => (await keyedStats(id))?.partitions ?? 0;
  /**
   * How many of the 8 partitions each of these instances should own once they see each other.
   * Rendezvous hashing spreads them evenly only on average: one of three may own none.
   */
  const expectedShares = (ids: readonly string[]) =>
    ids.map(
      (id) => Array.from({ length: 8 }, (_, p) => rendezvousOwner(p, ids)).filter((o) => o === id).length,
    );

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    client = counterClient(createClient(CounterService, createNatsTransport({ nc })));
  });
  after(async () => {
    await Promise.all(running.map((a) => a.drain(1_000)));
    for (const c of connections) await c.close();
    await nc?.close();
    await server?.dispose();
  });

  test(
    "10,000 increments from 20 clients over 3 instances end at exactly 10,000, no turns overlapping",
    TIMEOUT,
    async () => {
      await stopAll();
      const actors = await Promise.all([instance(), instance(), instance()]);
      // Spread before the count: started together, the first to look takes every partition and
      // hands the others' shares over as it sees them.
      const expected = expectedShares(actors.map((a) => a.id));
      await eventually(
        async () => {
          const shares = await Promise.all(actors.map((a) => owned(a.id)));
          return shares.every((n, i) => n === expected[i]);
        },
        "the three instances share the 8 partitions",
        30_000,
      ).catch(async (err: unknown) => {
        // What each instance saw, for the failure's message.
        const seen = await Promise.all(actors.map((a) => keyedStats(a.id)));
        throw new Error(
          `${String(err)}; expected ${expected}; the instances' views: ${JSON.stringify(seen)}`,
        );
      });
      const keys = Array.from({ length: 100 }, (_, i) => `count-${i}`);
      const { replies } = await count(client, keys, 10_000, 20);
      assert.equal(replies.length, 10_000);
      let sum = 0n;
      for (const key of keys) sum += (await client.get({ counterId: key })).value;
      assert.equal(sum, 10_000n, "the counters add up to the increments");
      const { counters } = checkTurns(replies);
      assert.equal(counters, 100);
      // The partitions are spread: every instance that owns some answered turns.
      const answered = new Set(replies.map((r) => r.instance));
      const owners = actors.filter((_, i) => (expected[i] ?? 0) > 0).map((a) => a.id);
      assert.deepEqual([...answered].sort(), owners.sort(), "every instance with partitions served turns");
      await Promise.all(actors.map((a) => a.drain(1_000)));
      running.length = 0;
    },
  );

  test(
    "an instance joining takes its share; one leaving hands its partitions over at once",
    TIMEOUT,
    async () => {
      await stopAll();
      const first = await instance();
      await eventually(
        async () => (await keyedStats(first.id))?.partitions === 8,
        "the only instance owns all 8",
      );
      const second = await instance();
      const [firstShare, secondShare] = expectedShares([first.id, second.id]);
      await eventually(async () => {
        const [theirs, mine] = [await owned(first.id), await owned(second.id)];
        return theirs === firstShare && mine === secondShare;
      }, `the second instance owns its share (${secondShare}), the first the rest`);
      if (secondShare === 0) assert.equal(await owned(first.id), 8, "rendezvous gave the second none");
      else assert.ok((await owned(first.id)) < 8);
      // What `troupe stats counter` shows of it.
      const [report] = summarizeStats(await serviceStats(nc, { name: "counter" }), "");
      assert.deepEqual(
        report?.keyed.map((k) => k.partitions).reduce((a, b) => a + b),
        8,
        "the instances' partitions add up",
      );
      assert.ok(formatStats(report ? [report] : []).some((line) => line.includes("KEYED SERVICE")));
      const values = await Promise.all(
        Array.from({ length: 16 }, (_, i) => client.increment({ counterId: `move-${i}`, by: 5n })),
      );
      const started = performance.now();
      await first.drain(1_000);
      running.splice(running.indexOf(first), 1);
      await eventually(
        async () => (await keyedStats(second.id))?.partitions === 8,
        "the second owns all 8",
        5_000,
      );
      const moveMs = performance.now() - started;
      // The state moved with the partitions: each counter goes on from where it was.
      for (const [i, before] of values.entries()) {
        const after = await client.increment({ counterId: `move-${i}`, by: 1n });
        assert.equal(after.value, before.value + 1n);
        assert.equal(after.instance, second.id);
      }
      assert.ok(moveMs < 5_000, `partitions moved in ${Math.round(moveMs)} ms`);
      await second.drain(1_000);
      running.length = 0;
    },
  );

  test(
    "a turn waits for the one before; a call back into a busy actor ends at its deadline, saying why",
    TIMEOUT,
    async () => {
      await stopAll();
      await instance();
      // Two slow increments of one counter: the second starts when the first ended.
      const [a, b] = await Promise.all([
        client.increment({ counterId: "serial", by: 1n, holdMs: 200 }),
        client.increment({ counterId: "serial", by: 1n, holdMs: 200 }),
      ]);
      const [first, second] = a.value < b.value ? [a, b] : [b, a];
      assert.ok(second.startedMs >= first.endedMs - 1, "the turns did not overlap");

      const started = performance.now();
      const error = await connectErrorOf(
        client.callBack({ counterId: "ping", otherId: "pong" }, { timeoutMs: 1_500 }),
      );
      const elapsed = performance.now() - started;
      assert.equal(error.code, Code.DeadlineExceeded);
      assert.match(error.rawMessage, /CounterService actor "ping" was busy with other turns/);
      assert.ok(elapsed >= 1_300 && elapsed < 3_000, `ended after ${Math.round(elapsed)} ms`);
      // Both actors serve again afterwards.
      assert.equal((await client.get({ counterId: "ping" })).counterId, "ping");
      assert.equal((await client.get({ counterId: "pong" })).counterId, "pong");
      await Promise.all(running.map((r) => r.drain(1_000)));
      running.length = 0;
    },
  );

  test("a turn queued behind another call's runs in its own call's scope", TIMEOUT, async () => {
    await stopAll();
    await instance();
    // In order on one connection: y is busy for 800 ms; on x, A (600 ms deadline, 300 ms of
    // work) runs first, then B, whose turn asks y and waits for it until about 800 ms. In A's
    // scope that ask would have A's last 300 ms; in its own it has B's 5 s.
    const c = client.increment({ counterId: "scope-y", by: 1n, holdMs: 800 });
    const a = client.increment({ counterId: "scope-x", by: 1n, holdMs: 300 }, { timeoutMs: 600 });
    const b = client.callBack({ counterId: "scope-x", otherId: "scope-y", back: true }, { timeoutMs: 5_000 });
    const [, , called] = await Promise.allSettled([c, a, b]);
    assert.equal(called.status, "fulfilled", `B: ${called.status === "rejected" ? called.reason : ""}`);
    await Promise.all(running.map((r) => r.drain(1_000)));
    running.length = 0;
  });

  test("timers run as turns; an idle actor is deactivated and its state stays", TIMEOUT, async () => {
    await stopAll();
    const actor = await instance({ idleMs: 300 });
    await client.arm({ counterId: "timed", delayMs: 50, times: 3 });
    await eventually(async () => (await client.get({ counterId: "timed" })).timerFired === 3n, "three ticks");
    await client.increment({ counterId: "timed", by: 7n });
    // Deactivated after 300 ms without a turn; the timer that ended with its 3 ticks is gone.
    await eventually(async () => (await keyedStats(actor.id))?.active === 0, "no actor active", 5_000);
    const again = await client.get({ counterId: "timed" });
    assert.deepEqual([again.value, again.timerFired], [7n, 3n], "the state outlived the activation");
    await actor.drain(1_000);
    running.length = 0;
  });

  test("reminders fire as turns, once each; a forgotten one never does", TIMEOUT, async () => {
    await stopAll();
    await instance({ bucket: "counters_reminded" });
    await client.remind({ counterId: "remind-1", name: "once", delayMs: 300 });
    await client.remind({ counterId: "remind-1", name: "dropped", delayMs: 300 });
    await client.remind({ counterId: "remind-1", name: "dropped", cancel: true });
    // Set again before it fired: replaced, so it fires once.
    await client.remind({ counterId: "remind-2", name: "once", delayMs: 200 });
    await client.remind({ counterId: "remind-2", name: "once", delayMs: 400 });
    // Due after the others: once it fired, theirs have had their chance.
    await client.remind({ counterId: "remind-3", name: "last", delayMs: 900 });
    await eventually(
      async () => (await client.get({ counterId: "remind-3" })).reminded === 1n,
      "the last fired",
    );
    assert.equal(
      (await client.get({ counterId: "remind-1" })).reminded,
      1n,
      "fired once, the forgotten one never",
    );
    assert.equal((await client.get({ counterId: "remind-2" })).reminded, 1n, "replaced, fired once");
    await Promise.all(running.map((r) => r.drain(1_000)));
    running.length = 0;
  });

  test(
    "what a turn saved stays when it then fails; the failed call is not remembered, so its retry runs again",
    TIMEOUT,
    async () => {
      await stopAll();
      await instance({ bucket: "counters_saved" });
      await client.increment({ counterId: "saved", by: 5n });
      const withKey = (key: string) => {
        const h = new Headers();
        h.set(Header.idempotencyKey, key);
        return { headers: h };
      };
      const failed = await connectErrorOf(
        client.increment({ counterId: "saved", by: 2n, saveThenFail: true }, withKey("save-1")),
      );
      assert.equal(failed.code, Code.Internal);
      assert.match(failed.rawMessage, /fails after it saved/);
      assert.equal(
        (await client.get({ counterId: "saved" })).value,
        7n,
        "the saved 2, not the 1000 after it",
      );
      // Stored, not only in memory: the record in the bucket says so.
      const kv = await new Kvm(nc).open("counters_saved");
      const stored = fromBinary(ActorRecordSchema, (await kv.get("saved"))?.value ?? new Uint8Array());
      assert.equal(fromBinary(CounterStateSchema, stored.state).value, 7n);
      assert.deepEqual(stored.applied, [], "the failed call is not remembered: its retry runs again");
      const again = await connectErrorOf(
        client.increment({ counterId: "saved", by: 2n, saveThenFail: true }, withKey("save-1")),
      );
      assert.equal(again.code, Code.Internal);
      assert.equal((await client.get({ counterId: "saved" })).value, 9n, "a save must be safe to do twice");
      await Promise.all(running.map((r) => r.drain(1_000)));
      running.length = 0;
    },
  );

  test(
    "a state changed under an active actor is not overwritten: the turn is refused, the next one reloads",
    TIMEOUT,
    async () => {
      await stopAll();
      await instance({ bucket: "counters_stale" });
      await client.increment({ counterId: "stale", by: 1n });
      // Someone else writes the stored record while the actor is active.
      const kv = await new Kvm(nc).open("counters_stale");
      const record = create(ActorRecordSchema, {
        state: toBinary(CounterStateSchema, create(CounterStateSchema, { value: 100n })),
      });
      await kv.put("stale", toBinary(ActorRecordSchema, record));
      const refused = await connectErrorOf(client.increment({ counterId: "stale", by: 1n }));
      assert.equal(refused.code, Code.Aborted);
      assert.match(refused.rawMessage, /its stored state changed under this activation/);
      assert.equal((await client.increment({ counterId: "stale", by: 1n })).value, 101n);
      const stored = fromBinary(ActorRecordSchema, (await kv.get("stale"))?.value ?? new Uint8Array());
      assert.equal(fromBinary(CounterStateSchema, stored.state).value, 101n);
      await Promise.all(running.map((r) => r.drain(1_000)));
      running.length = 0;
    },
  );

  test(
    "bad keys are refused; any key reaches its actor; a caller that does not route by key is forwarded",
    TIMEOUT,
    async () => {
      await stopAll();
      await instance({ bucket: "counters_keys" });
      const empty = await connectErrorOf(client.increment({ counterId: "", by: 1n }));
      assert.equal(empty.code, Code.InvalidArgument);
      assert.match(empty.rawMessage, /counter_id \(the actor's key\) is empty/);
      assert.equal(
        (await connectErrorOf(client.get({ counterId: "x".repeat(300) }))).code,
        Code.InvalidArgument,
      );

      assert.equal((await client.increment({ counterId: "ann@example.com", by: 2n })).value, 2n);
      const kv = await new Kvm(nc).open("counters_keys");
      const keys: string[] = [];
      for await (const key of await kv.keys()) keys.push(key);
      assert.deepEqual(keys, ["=YW5uQGV4YW1wbGUuY29t"], "a key that is not a KV key is stored base64url");

      // `nats req rpc.troupe.testing.v1.CounterService.Get '{"counterId":"ann@example.com"}'`
      const hdrs = headers();
      hdrs.set("content-type", "application/json");
      const reply = await nc.request(
        "rpc.troupe.testing.v1.CounterService.Get",
        new TextEncoder().encode(JSON.stringify({ counterId: "ann@example.com" })),
        { headers: hdrs, timeout: 5_000 },
      );
      assert.equal(reply.headers?.get("Nats-Service-Error-Code") ?? "", "");
      assert.equal((JSON.parse(reply.string()) as { turn: { value: string } }).turn.value, "2");
      await Promise.all(running.map((r) => r.drain(1_000)));
      running.length = 0;
    },
  );

  // Last: it restarts the suite's server.
  test(
    "a nats-server restart while counting: nothing lost or doubled, partitions served again",
    TIMEOUT,
    async () => {
      await stopAll();
      await Promise.all([instance({ bucket: "counters_restart" }), instance({ bucket: "counters_restart" })]);
      const keys = Array.from({ length: 20 }, (_, i) => `restart-${i}`);
      const counting = count(client, keys, 2_000, 10, true);
      await eventually(
        async () => (await client.get({ counterId: "restart-0" })).value >= 10n,
        "counting started",
      );
      await server.restart();
      const { replies, applied } = await counting;
      assert.equal(replies.length + applied.length, 2_000);
      let sum = 0n;
      for (const key of keys) sum += (await client.get({ counterId: key })).value;
      assert.equal(sum, 2_000n, "every increment counted once");
      checkTurns(replies);
      await Promise.all(running.map((r) => r.drain(1_000)));
      running.length = 0;
    },
  );
});

describe("keyed actors: processes SIGKILLed while counting", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const processes: ActorProcess[] = [];
  const start = () =>
    startActorProcess({
      runtime: currentRuntime(),
      file: "tests/support/counter-actor-main.ts",
      natsUrl: server.url,
      env: { KEYED_LEASE_MS: "2000", KEYED_RENEW_MS: "500" },
    }).then((p) => {
      processes.push(p);
      return p;
    });

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await nc?.close();
    await server?.dispose();
  });

  test("reminders fire after every instance was SIGKILLed and started again", TIMEOUT, async () => {
    const first = await Promise.all([start(), start()]);
    const client = counterClient(createClient(CounterService, createNatsTransport({ nc })));
    const keys = Array.from({ length: 10 }, (_, i) => `survivor-${i}`);
    await Promise.all(keys.map((counterId) => client.remind({ counterId, name: "later", delayMs: 1_500 })));
    await Promise.all(first.map((p) => p.kill()));
    await Promise.all([start(), start()]);
    // Due while no instance ran: each fires once the new instances own the partitions.
    await eventually(
      async () => {
        for (const counterId of keys) {
          if ((await client.get({ counterId }, { timeoutMs: 8_000 })).reminded !== 1n) return false;
        }
        return true;
      },
      "every reminder fired",
      30_000,
    );
    // And once: still 1 after a reminder set now has fired.
    await client.remind({ counterId: "survivor-last", name: "last", delayMs: 500 });
    await eventually(
      async () => (await client.get({ counterId: "survivor-last" })).reminded === 1n,
      "the last reminder fired",
    );
    for (const counterId of keys) {
      assert.equal((await client.get({ counterId })).reminded, 1n, `${counterId}'s reminder fired once`);
    }
    await Promise.all(processes.splice(0).map((p) => p.kill()));
  });

  test(
    "with idempotency keys, increments are neither lost nor doubled when owners die",
    TIMEOUT,
    async () => {
      const [a, b] = await Promise.all([start(), start(), start()]);
      const client = counterClient(createClient(CounterService, createNatsTransport({ nc })));
      const keys = Array.from({ length: 40 }, (_, i) => `kill-${i}`);
      const total = 3_000;
      const counting = count(client, keys, total, 20, true);
      // A read sent as its owner dies is lost with it (at most once): it times out and is asked again.
      const countOf = async (counterId: string) => {
        try {
          return (await client.get({ counterId }, { timeoutMs: 3_000 })).value;
        } catch (err) {
          if (err instanceof ConnectError && err.code === Code.DeadlineExceeded) return -1n;
          throw err;
        }
      };
      // Two owners SIGKILLed while the counting goes on, one restarted.
      await eventually(async () => (await countOf("kill-0")) >= 10n, "counting started");
      await a?.kill();
      const restarted = start();
      await eventually(async () => (await countOf("kill-1")) >= 40n, "counting went on", 20_000);
      await b?.kill();
      await restarted;
      const { replies, applied } = await counting;
      assert.equal(replies.length + applied.length, total);
      let sum = 0n;
      const off: string[] = [];
      for (const key of keys) {
        const { value } = await client.get({ counterId: key }, { timeoutMs: 8_000 });
        sum += value;
        if (value !== BigInt(total / keys.length)) off.push(`${key}=${value}`);
      }
      assert.equal(sum, BigInt(total), `every increment counted once; off: ${off.join(", ")}`);
      const { epochs } = checkTurns(replies);
      assert.ok(epochs > 8, `partitions changed owners (${epochs} lease epochs)`);
    },
  );
});
