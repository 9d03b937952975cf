/**
 * JSON Schemas (draft 2020-12, as OpenAPI 3.1 uses) of messages in the proto3 JSON mapping
 * (https://protobuf.dev/programming-guides/json/): fields under their JSON names, 64-bit
 * integers as strings, enums by name, bytes as base64, and the well-known types in their
 * special forms. Messages and enums become named components, referenced with `$ref`, so
 * recursive messages need no special care.
 */
import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

export type JsonSchema = Record<string, unknown>;

export interface SchemaCollector {
  /** `{ $ref }` to the message's component, collecting it (and what it uses) on first use. */
  message(desc: DescMessage): JsonSchema;
  /** The schema of one field's JSON value. */
  field(field: DescField): JsonSchema;
  /** Every component collected so far, by full proto name. */
  readonly components: Record<string, JsonSchema>;
}

const REF_PREFIX = "#/components/schemas/";

export function createSchemaCollector(): SchemaCollector {
  const components: Record<string, JsonSchema> = {};
  const collector: SchemaCollector = {
    components,
    message(desc) {
      const wkt = wellKnownSchema(desc);
      if (wkt) return wkt;
      if (!(desc.typeName in components)) {
        components[desc.typeName] = {}; // placeholder first: recursion ends here
        components[desc.typeName] = messageSchema(desc, collector);
      }
      return { $ref: REF_PREFIX + desc.typeName };
    },
    field(field) {
      switch (field.fieldKind) {
        case "scalar":
          return scalarSchema(field.scalar);
        case "enum":
          return enumRef(field.enum, components);
        case "message":
          return collector.message(field.message);
        case "list": {
          const items =
            field.listKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.listKind === "enum"
                ? enumRef(field.enum, components)
                : collector.message(field.message);
          return { type: "array", items };
        }
        case "map": {
          const value =
            field.mapKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.mapKind === "enum"
                ? enumRef(field.enum, components)
                : collector.message(field.message);
          // JSON object keys are strings; integer and bool keys are written as their text.
          return { type: "object", additionalProperties: value };
        }
      }
    },
  };
  return collector;
}

function messageSchema(desc: DescMessage, collector: SchemaCollector): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const field of desc.fields) properties[field.jsonName] = collector.field(field);
  const schema: JsonSchema = { type: "object", title: desc.name, properties };
  const oneofs = desc.oneofs.map(
    (o) => `at most one of ${o.fields.map((f) => `\`${f.jsonName}\``).join(", ")} (oneof \`${o.name}\`)`,
  );
  if (oneofs.length > 0) schema.description = `Set ${oneofs.join("; and ")}.`;
  return schema;
}

function enumRef(desc: DescEnum, components: Record<string, JsonSchema>): JsonSchema {
  if (desc.typeName === "google.protobuf.NullValue") return { type: "null" };
  if (!(desc.typeName in components)) {
    components[desc.typeName] = {
      type: "string",
      title: desc.name,
      // Written by name; readers accept the number too.
      enum: desc.values.map((v) => v.name),
    };
  }
  return { $ref: REF_PREFIX + desc.typeName };
}

export function scalarSchema(type: ScalarType): JsonSchema {
  switch (type) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte", contentEncoding: "base64" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32", minimum: 0, maximum: 4294967295 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      // Strings, so that values past 2^53 survive JavaScript and other double-based readers.
      return { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64", pattern: "^[0-9]+$" };
  }
}

const WRAPPERS: Record<string, ScalarType> = {
  "google.protobuf.DoubleValue": ScalarType.DOUBLE,
  "google.protobuf.FloatValue": ScalarType.FLOAT,
  "google.protobuf.Int64Value": ScalarType.INT64,
  "google.protobuf.UInt64Value": ScalarType.UINT64,
  "google.protobuf.Int32Value": ScalarType.INT32,
  "google.protobuf.UInt32Value": ScalarType.UINT32,
  "google.protobuf.BoolValue": ScalarType.BOOL,
  "google.protobuf.StringValue": ScalarType.STRING,
  "google.protobuf.BytesValue": ScalarType.BYTES,
};

/** Inline schemas of the well-known types whose JSON form is special; undefined for others. */
function wellKnownSchema(desc: DescMessage): JsonSchema | undefined {
  const wrapped = WRAPPERS[desc.typeName];
  if (wrapped !== undefined) return scalarSchema(wrapped);
  switch (desc.typeName) {
    case "google.protobuf.Timestamp":
      return { type: "string", format: "date-time" };
    case "google.protobuf.Duration":
      return { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$", examples: ["1.5s"] };
    case "google.protobuf.FieldMask":
      return { type: "string", description: "Comma-separated field paths in lowerCamelCase." };
    case "google.protobuf.Struct":
      return { type: "object", additionalProperties: true };
    case "google.protobuf.Value":
      return {};
    case "google.protobuf.ListValue":
      return { type: "array" };
    case "google.protobuf.Empty":
      return { type: "object" };
    case "google.protobuf.Any":
      return {
        type: "object",
        properties: { "@type": { type: "string" } },
        required: ["@type"],
        additionalProperties: true,
      };
    default:
      return undefined;
  }
}
