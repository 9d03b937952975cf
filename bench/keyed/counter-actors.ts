/**
 * The two actors of the keyed benchmark (proto/troupe/bench/v1/keyed_bench.proto), written as a
 * user writes them with the public API:
 * - keyed: `keyed(KeyedCounterService, {…})`, a counter per key whose state is the actor's; Read
 *   changes nothing, Add changes the state, which the runtime writes to KV before the reply;
 * - plain: `implement(PlainCounterService, {…})`, the counters in a `Map` of the process; Add also
 *   puts the counter into a KV bucket (`ctx.state`) before answering, the storage work a
 *   stateless service does for the same call.
 * Both answer with the counter's value and the request's payload.
 */
import { defineActor, implement, keyed } from "troupe";
import {
  CounterBenchStateSchema,
  KeyedCounterService,
  PlainCounterService,
} from "../../proto/gen/troupe/bench/v1/keyed_bench_pb.ts";

/** The actor names: each is its own service in discovery. */
export const KEYED_ACTOR = "keyed-bench";
export const PLAIN_ACTOR = "plain-bench";
/** The state buckets. */
const KEYED_BUCKET = "bench_keyed_counters";
const PLAIN_BUCKET = "bench_plain_counters";

export interface KeyedActorOptions {
  /** Deactivates an actor without a turn for this long (the runtime's default: 5 minutes). */
  readonly idleMs?: number | undefined;
  /** Lease and renewal times of the partitions (the runtime's defaults: 3 s and 1 s). */
  readonly leaseMs?: number | undefined;
  readonly renewMs?: number | undefined;
}

export function keyedCounterActor(options: KeyedActorOptions = {}) {
  const placement = {
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    ...(options.renewMs === undefined ? {} : { renewMs: options.renewMs }),
  };
  return defineActor({
    name: KEYED_ACTOR,
    version: "0.0.0",
    description: "A counter per key, as keyed virtual actors (bench/keyed)",
    serves: [KeyedCounterService],
    state: [KEYED_BUCKET],
    services: () => [
      keyed(KeyedCounterService, {
        bucket: KEYED_BUCKET,
        state: CounterBenchStateSchema,
        ...(options.idleMs === undefined ? {} : { idleMs: options.idleMs }),
        placement,
        handlers: {
          read(request, turn) {
            if (request.deactivate) turn.deactivate();
            return { value: turn.state.value, payload: request.payload };
          },
          add(request, turn) {
            turn.state.value += request.by;
            if (request.deactivate) turn.deactivate();
            return { value: turn.state.value, payload: request.payload };
          },
        },
      }),
    ],
  });
}

export const plainCounterActor = defineActor({
  name: PLAIN_ACTOR,
  version: "0.0.0",
  description: "The counters of bench/keyed on a plain service",
  serves: [PlainCounterService],
  state: [PLAIN_BUCKET],
  setup: (ctx) => ctx.state(PLAIN_BUCKET, CounterBenchStateSchema),
  services: (_ctx, store) => {
    const counters = new Map<string, bigint>();
    return [
      implement(PlainCounterService, {
        read: (request) => ({ value: counters.get(request.key) ?? 0n, payload: request.payload }),
        async add(request) {
          const value = (counters.get(request.key) ?? 0n) + request.by;
          counters.set(request.key, value);
          await store.put(request.key, { value });
          return { value, payload: request.payload };
        },
      }),
    ];
  },
});
