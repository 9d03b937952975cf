/**
 * Every message of the shop's contracts survives a round trip through binary protobuf and
 * through Connect's JSON mapping, on every runtime. Messages are filled by reflection (every
 * field set, lists and maps with two entries, oneofs set to their first member), so a new
 * contract file or field is covered without touching this test.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  create,
  type DescEnum,
  type DescField,
  type DescFile,
  type DescMessage,
  equals,
  fromBinary,
  fromJson,
  fromJsonString,
  type Message,
  ScalarType,
  toBinary,
  toJson,
  toJsonString,
} from "@bufbuild/protobuf";
import { nestedTypes, type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";

const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
// The shop's generated code, and the troupe package's own (troupe/v1 options).
const CONTRACT_DIRS = [
  join(ROOT, "proto", "gen", "shop", "v1"),
  join(ROOT, "runtime", "gen", "troupe", "v1"),
];

async function contractFiles(): Promise<DescFile[]> {
  const files: DescFile[] = [];
  for (const dir of CONTRACT_DIRS) {
    for (const name of readdirSync(dir)
      .filter((n) => n.endsWith("_pb.ts"))
      .sort()) {
      const mod: Record<string, unknown> = await import(join(dir, name));
      const file = Object.entries(mod).find(([key]) => key.startsWith("file_"))?.[1];
      assert.ok(file, `${dir}/${name} exports its file descriptor`);
      files.push(file as DescFile);
    }
  }
  return files;
}

function messagesOf(file: DescFile): DescMessage[] {
  return [...nestedTypes(file)].filter((t): t is DescMessage => t.kind === "message");
}

function scalarSample(type: ScalarType, seed: number): unknown {
  switch (type) {
    case ScalarType.STRING:
      return `s${seed} ünïcødé ✓`;
    case ScalarType.BYTES:
      return new Uint8Array([0, seed & 0xff, 255]);
    case ScalarType.BOOL:
      return true;
    case ScalarType.DOUBLE:
      return seed + 0.25;
    case ScalarType.FLOAT:
      return seed + 0.5; // exactly representable in 32 bits
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return -(2n ** 62n) + BigInt(seed);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return 2n ** 63n + BigInt(seed);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return -seed - 1;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return seed + 1;
  }
}

function enumSample(desc: DescEnum): number {
  const last = desc.values.at(-1);
  assert.ok(last, `${desc.typeName} has values`);
  return last.number;
}

/** A message of `desc` with every field set to a non-default value. */
function filled(desc: DescMessage, depth = 0): ReflectMessage {
  if (desc.typeName === "google.protobuf.Timestamp") {
    return reflect(desc, timestampFromMs(Date.UTC(2026, 10, 26, 12, 30, 15, 123)) as never);
  }
  const msg = reflect(desc);
  for (const member of msg.members) {
    const field: DescField | undefined = member.kind === "oneof" ? member.fields[0] : member;
    if (field === undefined) continue;
    const seed = field.number;
    switch (field.fieldKind) {
      case "scalar":
        msg.set(field, scalarSample(field.scalar, seed));
        break;
      case "enum":
        msg.set(field, enumSample(field.enum));
        break;
      case "message":
        if (depth < 4) msg.set(field, filled(field.message, depth + 1));
        break;
      case "list": {
        const list = msg.get(field);
        for (const i of [0, 1]) {
          if (field.listKind === "scalar") list.add(scalarSample(field.scalar, seed + i));
          else if (field.listKind === "enum") list.add(enumSample(field.enum));
          else if (depth < 4) list.add(filled(field.message, depth + 1));
        }
        break;
      }
      case "map": {
        const map = msg.get(field);
        for (const i of [0, 1]) {
          const key = scalarSample(field.mapKey, seed + i);
          if (field.mapKind === "scalar") map.set(key, scalarSample(field.scalar, seed + i));
          else if (field.mapKind === "enum") map.set(key, enumSample(field.enum));
          else if (depth < 4) map.set(key, filled(field.message, depth + 1));
        }
        break;
      }
    }
  }
  return msg;
}

const files = await contractFiles();

test("the contracts define the shop's services and events", () => {
  const names = new Set(
    files.flatMap((f) => [...f.services.map((s) => s.typeName), ...messagesOf(f).map((m) => m.typeName)]),
  );
  for (const expected of [
    "shop.v1.UserService",
    "shop.v1.ProductService",
    "shop.v1.OrderService",
    "shop.v1.PaymentService",
    "shop.v1.InventoryService",
    "shop.v1.EmailService",
    "shop.v1.BillingService",
    "shop.v1.CartService",
    "shop.v1.UserRegistered",
    "shop.v1.OrderPlaced",
    "shop.v1.PaymentCaptured",
    "shop.v1.StockAdjusted",
  ]) {
    assert.ok(names.has(expected), `${expected} is defined`);
  }
});

for (const file of files) {
  test(`every message of ${file.proto.name} round-trips through binary and JSON`, () => {
    const messages = messagesOf(file);
    assert.ok(messages.length > 0, "the file defines messages");
    for (const desc of messages) {
      const original = filled(desc).message as Message;
      const empty = create(desc);
      if (desc.fields.length > 0) {
        assert.ok(!equals(desc, original, empty), `${desc.typeName} is filled`);
      }

      const bytes = toBinary(desc, original);
      assert.ok(equals(desc, fromBinary(desc, bytes), original), `${desc.typeName} binary`);

      const json = toJson(desc, original);
      assert.ok(equals(desc, fromJson(desc, json), original), `${desc.typeName} JSON`);
      const text = toJsonString(desc, original);
      assert.ok(equals(desc, fromJsonString(desc, text), original), `${desc.typeName} JSON text`);
      // JSON that a human (or `nats req`) types uses the proto field names too.
      const protoNames = toJson(desc, original, { useProtoFieldName: true });
      assert.ok(equals(desc, fromJson(desc, protoNames), original), `${desc.typeName} proto-name JSON`);
    }
  });
}
