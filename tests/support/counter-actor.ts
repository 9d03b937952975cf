/**
 * The keyed counter of tests/portable/keyed-actors.test.ts (proto/troupe/testing/v1/counter.proto):
 * one counter per id, each reply naming the instance, lease epoch and time of its turn.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { defineActor, keyed } from "troupe";
import { CounterService, CounterStateSchema } from "../../proto/gen/troupe/testing/v1/counter_pb.ts";

const now = () => performance.timeOrigin + performance.now();

export interface CounterActorOptions {
  readonly name?: string;
  readonly bucket?: string;
  readonly idleMs?: number;
  readonly leaseMs?: number;
  readonly renewMs?: number;
}

export function createCounterActor(options: CounterActorOptions = {}) {
  const bucket = options.bucket ?? "counters";
  return defineActor({
    name: options.name ?? "counter",
    version: "1.0.0",
    description: "A keyed counter per id",
    serves: [CounterService],
    calls: [CounterService],
    state: [bucket],
    services: (ctx) => [
      keyed(CounterService, {
        bucket,
        state: CounterStateSchema,
        ...(options.idleMs === undefined ? {} : { idleMs: options.idleMs }),
        placement: { leaseMs: options.leaseMs ?? 3_000, renewMs: options.renewMs ?? 1_000 },
        handlers: {
          async increment(request, turn) {
            const startedMs = now();
            if (request.holdMs > 0) await new Promise((resolve) => setTimeout(resolve, request.holdMs));
            turn.state.value += request.by;
            if (request.saveThenFail) {
              await turn.save();
              turn.state.value += 1000n; // never stored: the turn fails after its save
              throw new ConnectError("test: the turn fails after it saved", Code.Internal);
            }
            return reply(turn, startedMs);
          },
          get: (_request, turn) => reply(turn, now()),
          async callBack(request, turn) {
            const startedMs = now();
            const counters = ctx.client(CounterService);
            if (request.back) await counters.get({ counterId: request.otherId });
            else await counters.callBack({ counterId: request.otherId, otherId: turn.key, back: true });
            return reply(turn, startedMs);
          },
          async remind(request, turn) {
            if (request.cancel) await turn.forget(request.name);
            else await turn.remind(request.name, request.delayMs);
            return reply(turn, now());
          },
          arm(request, turn) {
            turn.state.ticksLeft = request.times;
            turn.setTimer("tick", request.delayMs, { everyMs: request.delayMs });
            return reply(turn, now());
          },
        },
        onReminder(_reminder, turn) {
          turn.state.reminded += 1n;
        },
        onTimer(_name, turn) {
          turn.state.timerFired += 1n;
          turn.state.ticksLeft -= 1;
          if (turn.state.ticksLeft <= 0) turn.clearTimer("tick");
        },
      }),
    ],
  });
}

function reply(
  turn: {
    key: string;
    state: { value: bigint; timerFired: bigint; reminded: bigint };
    instanceId: string;
    epoch: number;
  },
  startedMs: number,
) {
  return {
    turn: {
      counterId: turn.key,
      value: turn.state.value,
      timerFired: turn.state.timerFired,
      reminded: turn.state.reminded,
      instance: turn.instanceId,
      epoch: BigInt(turn.epoch),
      startedMs,
      endedMs: now(),
    },
  };
}
