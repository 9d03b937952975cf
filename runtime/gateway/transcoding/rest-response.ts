/**
 * The JSON body of a REST response: the method's response message in the proto3 JSON mapping
 * (https://protobuf.dev/programming-guides/json/), or only the field that the rule's
 * `response_body` names (proto/google/api/http.proto, `HttpRule.response_body`).
 */
import {
  create,
  type JsonObject,
  type JsonValue,
  type JsonWriteOptions,
  type Message,
  toJson,
} from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import type { RestRoute } from "./rest-routes.ts";

/** Options of the JSON writer (protobuf-es `JsonWriteOptions`: registry, useProtoFieldName, …). */
export type RestResponseOptions = Partial<JsonWriteOptions>;

export function restResponse(
  route: RestRoute,
  response: Message,
  options: RestResponseOptions = {},
): JsonValue {
  const output = route.method.output;
  const field = route.responseBodyField;
  if (field === undefined) return toJson(output, response, options);
  const source = reflect(output, response);
  const key = options.useProtoFieldName ? field.name : field.jsonName;
  // Only the field is copied and written, so nested messages keep the caller's options.
  const only = reflect(output, create(output));
  if (source.isSet(field)) only.set(field, source.get(field));
  const json = toJson(output, only.message, options) as JsonObject;
  if (Object.hasOwn(json, key)) return json[key] as JsonValue;
  // Unset: a message is JSON null, its default in the mapping; a scalar, enum, list or map is
  // its default value (0, "", [], {} …), which the writer emits when asked for implicit fields.
  if (field.fieldKind === "message") return null;
  const defaults = toJson(output, create(output), { ...options, alwaysEmitImplicit: true }) as JsonObject;
  return defaults[key] ?? null;
}
