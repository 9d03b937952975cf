/**
 * Dotted field paths into a message (`book.name`, `filter.min_pages`), as path variables and
 * query parameters name them, and the classification of fields that decides where a value may
 * come from.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";

/**
 * Well-known messages whose proto3 JSON form is a single string, number or bool, so a path
 * variable or query parameter can carry them (https://protobuf.dev/programming-guides/json/).
 */
const PRIMITIVE_WKT = new Set([
  "google.protobuf.Timestamp",
  "google.protobuf.Duration",
  "google.protobuf.FieldMask",
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

/** A message whose JSON is a primitive value (Timestamp, Duration, FieldMask, wrappers). */
export function isPrimitiveWkt(message: DescMessage): boolean {
  return PRIMITIVE_WKT.has(message.typeName);
}

/** True for a singular field whose JSON value is a string, number or bool. */
export function isPrimitiveField(field: DescField): boolean {
  if (field.fieldKind === "scalar" || field.fieldKind === "enum") return true;
  return field.fieldKind === "message" && isPrimitiveWkt(field.message);
}

/** True for a field that holds a message a path can descend into (not a primitive WKT). */
export function isNestable(field: DescField): field is DescField & { fieldKind: "message" } {
  return field.fieldKind === "message" && !isPrimitiveWkt(field.message);
}

/**
 * Resolves `names` (proto names, and JSON names too when `acceptJsonNames`) from `root`. Every
 * field but the last must be a singular message field. Returns the fields or a reason.
 */
export function resolveFieldPath(
  root: DescMessage,
  names: readonly string[],
  acceptJsonNames: boolean,
): { fields: DescField[] } | { error: string } {
  const fields: DescField[] = [];
  let message = root;
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const field = message.fields.find((f) => f.name === name || (acceptJsonNames && f.jsonName === name));
    if (!field) return { error: `${message.typeName} has no field "${name}"` };
    fields.push(field);
    if (i === names.length - 1) break;
    if (!isNestable(field)) return { error: `${field.name} of ${message.typeName} is not a message field` };
    message = field.message;
  }
  return { fields };
}

/** The proto names of a resolved path, joined: `book.name`. */
export function fieldPathName(fields: readonly DescField[]): string {
  return fields.map((f) => f.name).join(".");
}
