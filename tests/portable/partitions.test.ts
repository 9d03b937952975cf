/**
 * The key → partition mapping of keyed services (runtime/protocol/partitions.ts): callers in any
 * language must compute the same partition, so it is FNV-1a (32 bits) of the key's UTF-8 bytes,
 * checked against published FNV-1a values and against TextEncoder's UTF-8 for any string.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CounterService } from "../../proto/gen/troupe/testing/v1/counter_pb.ts";
import { EchoService } from "../../proto/gen/troupe/testing/v1/echo_pb.ts";
import {
  keyedContractOf,
  partitionOf,
  partitionOfSubject,
  rpcPartitionSubject,
} from "../../runtime/protocol/partitions.ts";

/** FNV-1a of the UTF-8 bytes, the plain way. */
function reference(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
}

test("the partition is FNV-1a of the key's UTF-8 bytes, modulo the partitions", () => {
  // Published FNV-1a 32-bit values: "" → 0x811c9dc5, "a" → 0xe40c292c, "foobar" → 0xbf9cf968.
  const whole = 2 ** 32 - 1;
  assert.equal(partitionOf("", whole), 0x811c9dc5 % whole);
  assert.equal(partitionOf("a", whole), 0xe40c292c % whole);
  assert.equal(partitionOf("foobar", whole), 0xbf9cf968 % whole);
  const keys = ["cart-1", "ann@example.com", "é", "日本語", "😀x", "\ud800", "a\udc00b"];
  for (let i = 0; i < 2_000; i++) {
    let key = "";
    for (let j = i % 13; j > 0; j--) key += String.fromCharCode((i * 7919 + j * 104_729) % 0x10000);
    keys.push(key);
  }
  for (const key of keys) assert.equal(partitionOf(key, 4_093), reference(key) % 4_093, JSON.stringify(key));
});

test("a keyed contract names its key field and partitions; subjects carry the partition", () => {
  assert.equal(keyedContractOf(EchoService), undefined, "a plain service is not keyed");
  const contract = keyedContractOf(CounterService);
  assert.equal(contract?.keyField, "counter_id");
  assert.equal(contract?.partitions, 8);
  const method = CounterService.method.increment;
  assert.equal(contract?.keyOf(method, { counterId: "c-1" }), "c-1");
  const subject = rpcPartitionSubject(method, 5, "acme");
  assert.equal(subject, "acme.rpc.troupe.testing.v1.CounterService.Increment.p.5");
  assert.equal(partitionOfSubject(subject), 5);
  assert.equal(partitionOfSubject("rpc.troupe.testing.v1.CounterService.Increment"), undefined);
});
