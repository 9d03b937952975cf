/**
 * Keys that fall in every partition of the keyed counter, and a wait until each partition has an
 * owner that answers. The key → partition function is the runtime's own (not exported by
 * `troupe/protocol`, so imported from its source, as bench/gateway imports the HTTP server).
 */
import { KeyedCounterService } from "../../proto/gen/troupe/bench/v1/keyed_bench_pb.ts";
import { keyedContractOf, partitionOf } from "../../runtime/protocol/partitions.ts";
import type { CounterClient } from "./counter-client.ts";

/** The partitions of KeyedCounterService, from its contract. */
export function partitionCount(): number {
  const contract = keyedContractOf(KeyedCounterService);
  if (contract === undefined) throw new Error("KeyedCounterService is not keyed");
  return contract.partitions;
}

/** One key per partition, `keys[p]` in partition p: the first of `<prefix>0`, `<prefix>1`, … to land there. */
export function keysOfEveryPartition(prefix: string): string[] {
  const partitions = partitionCount();
  const keys: (string | undefined)[] = new Array(partitions).fill(undefined);
  let found = 0;
  for (let i = 0; found < partitions; i++) {
    const key = `${prefix}${i}`;
    const p = partitionOf(key, partitions);
    if (keys[p] === undefined) {
      keys[p] = key;
      found++;
    }
  }
  return keys as string[];
}

/** The partition of `key`. */
export function partitionOfKey(key: string): number {
  return partitionOf(key, partitionCount());
}

/**
 * Resolves once a read of a key of every partition was answered: the instances have taken every
 * partition. Rejects after `timeoutMs`.
 */
export async function untilEveryPartitionAnswers(client: CounterClient, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  await Promise.all(
    keysOfEveryPartition("probe-").map(async (key) => {
      for (;;) {
        try {
          await client.read(key, { timeoutMs: 2_000 });
          return;
        } catch (err) {
          if (performance.now() > deadline) {
            throw new Error(`partition of key ${key} did not answer within ${timeoutMs} ms`, { cause: err });
          }
        }
      }
    }),
  );
}
