/**
 * The measuring processes' view of either counter service: `read` and `add` of a key through
 * `createClient(Service, createNatsTransport({ nc }))`, the runtime's public client, with the
 * same request fields for both services (proto/troupe/bench/v1/keyed_bench.proto). Every answer
 * is checked: it must carry the request's payload whole.
 */
import { type CallOptions, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { createNatsTransport } from "troupe";
import { KeyedCounterService, PlainCounterService } from "../../proto/gen/troupe/bench/v1/keyed_bench_pb.ts";

export type ServiceKind = "keyed" | "plain";

export interface CounterCallOptions {
  /** End the key's activation after this turn (keyed only; the plain service ignores it). */
  readonly deactivate?: boolean;
  readonly timeoutMs?: number;
}

/** Calls of one service; each resolves with the counter's value. */
export interface CounterClient {
  read(key: string, options?: CounterCallOptions): Promise<bigint>;
  add(key: string, options?: CounterCallOptions): Promise<bigint>;
}

export function counterClient(nc: NatsConnection, kind: ServiceKind, payloadBytes: number): CounterClient {
  const transport = createNatsTransport({ nc });
  const payload = new Uint8Array(payloadBytes);
  for (let i = 0; i < payloadBytes; i++) payload[i] = (i * 31 + 7) & 0xff;
  const client =
    kind === "keyed"
      ? createClient(KeyedCounterService, transport)
      : createClient(PlainCounterService, transport);
  const callOptions = (options: CounterCallOptions | undefined): CallOptions =>
    options?.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
  const checked = (response: { value: bigint; payload: Uint8Array }) => {
    if (response.payload.length !== payloadBytes) {
      throw new Error(`a reply carried ${response.payload.length} payload bytes, not ${payloadBytes}`);
    }
    return response.value;
  };
  return {
    async read(key, options) {
      const deactivate = options?.deactivate ?? false;
      return checked(await client.read({ key, payload, deactivate }, callOptions(options)));
    },
    async add(key, options) {
      const deactivate = options?.deactivate ?? false;
      return checked(await client.add({ key, by: 1n, payload, deactivate }, callOptions(options)));
    },
  };
}
