/**
 * Builds a method's request message from a REST call: path variables, query parameters and the
 * JSON body, following the rules of proto/google/api/http.proto ("Rules for HTTP mapping") and
 * the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/). The three sources are
 * gathered into one JSON object and decoded once with protobuf-es, so every type rule (int64 as
 * string, enum names, Timestamp strings, unknown keys refused) is protobuf-es's own. Anything
 * wrong is `invalid_argument` with a message naming the parameter or field.
 */
import {
  type DescField,
  fromJson,
  type JsonObject,
  type JsonValue,
  type Message,
  type Registry,
  ScalarType,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { fieldPathName, isNestable, isPrimitiveWkt, resolveFieldPath } from "./field-path.ts";
import type { RestRoute } from "./rest-routes.ts";

export interface RestRequestOptions {
  /** Resolves `google.protobuf.Any` payloads in bodies. */
  readonly registry?: Registry;
}

/**
 * The request message of `route.method`. `vars` are the decoded path variables from the
 * router, `query` the URL's query, `body` the parsed JSON body (undefined when there is none).
 */
export function restRequest(
  route: RestRoute,
  vars: Readonly<Record<string, string>>,
  query: URLSearchParams,
  body: unknown,
  options: RestRequestOptions = {},
): Message {
  const input = route.method.input;
  const readOptions = { ignoreUnknownFields: false, registry: options.registry };
  const json = bodyJson(route, body);
  for (const v of route.variables) {
    const value = vars[v.name];
    if (value === undefined) throw invalid(`path variable "${v.name}" is missing`);
    const converted = primitiveJson(v.fields, value, `path variable "${v.name}"`, readOptions);
    setPathValue(json, v.fields, converted, v.name);
  }
  for (const [name, values] of groupQuery(query)) {
    const fields = queryFields(route, name);
    const leaf = fields[fields.length - 1] as DescField;
    const what = `query parameter "${name}"`;
    let converted: JsonValue;
    if (leaf.fieldKind === "list") {
      converted = values.map((value) => primitiveJson(fields, value, what, readOptions, true));
    } else {
      if (values.length > 1) throw invalid(`${what} is given ${values.length} times but is not repeated`);
      converted = primitiveJson(fields, values[0] as string, what, readOptions);
    }
    setQueryValue(json, fields, converted, name);
  }
  try {
    return fromJson(input, json, readOptions);
  } catch (err) {
    // Path and query values were checked one by one above: what fails now is in the body.
    throw invalid(`invalid request body: ${(err as Error).message}`);
  }
}

function bodyJson(route: RestRoute, body: unknown): JsonObject {
  if (route.body === "*") {
    if (body === undefined) return {};
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw invalid(`the request body must be a JSON object (${route.method.input.typeName})`);
    }
    return { ...(body as JsonObject) };
  }
  if (route.bodyField !== undefined) {
    return body === undefined ? {} : { [route.bodyField.jsonName]: body as JsonValue };
  }
  if (body !== undefined) {
    throw invalid(
      `${route.httpMethod} ${route.template} takes no request body; send fields as query parameters`,
    );
  }
  return {};
}

function groupQuery(query: URLSearchParams): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const [key, value] of query) {
    const list = groups.get(key);
    if (list) list.push(value);
    else groups.set(key, [value]);
  }
  return groups;
}

/** Resolves a query parameter to its field path and refuses what the mapping rules forbid. */
function queryFields(route: RestRoute, name: string): readonly DescField[] {
  const what = `query parameter "${name}"`;
  if (route.body === "*") {
    throw invalid(
      `${what}: ${route.httpMethod} ${route.template} takes every field from the body, none from the query`,
    );
  }
  const resolved = resolveFieldPath(route.method.input, name.split("."), true);
  if ("error" in resolved) throw invalid(`unknown ${what}: ${resolved.error}`);
  const { fields } = resolved;
  const leaf = fields[fields.length - 1] as DescField;
  const path = fieldPathName(fields);
  if (route.variables.some((v) => fieldPathName(v.fields) === path)) {
    throw invalid(`${what}: field ${path} is bound by the URL path`);
  }
  if (route.bodyField !== undefined && fields[0] === route.bodyField) {
    throw invalid(`${what}: field ${route.bodyField.name} comes from the request body`);
  }
  if (leaf.fieldKind === "map") throw invalid(`${what}: map field ${path} cannot be set from the query`);
  if (leaf.fieldKind === "list" && leaf.listKind === "message" && !isPrimitiveWkt(leaf.message)) {
    throw invalid(`${what}: repeated message field ${path} cannot be set from the query`);
  }
  if (isNestable(leaf)) {
    throw invalid(`${what}: ${path} is a message; set its fields as ${name}.<field>`);
  }
  return fields;
}

/**
 * Converts one string from the URL to the JSON value of the leaf field and checks it by
 * decoding it alone, so an error names the parameter. Strings are what the JSON mapping takes
 * for numbers, 64-bit integers, bytes, Timestamp, Duration and FieldMask; bools and enum
 * numbers need a JSON bool and number.
 */
function primitiveJson(
  fields: readonly DescField[],
  value: string,
  what: string,
  readOptions: { ignoreUnknownFields: boolean; registry: Registry | undefined },
  asListItem = false,
): JsonValue {
  const leaf = fields[fields.length - 1] as DescField;
  let json: JsonValue = value;
  if (isBool(leaf)) {
    if (value !== "true" && value !== "false")
      throw invalid(`${what}: "${value}" is not a bool (true or false)`);
    json = value === "true";
  } else if (
    (leaf.fieldKind === "enum" || (leaf.fieldKind === "list" && leaf.listKind === "enum")) &&
    /^-?\d+$/.test(value)
  ) {
    json = Number(value);
  }
  try {
    fromJson(leaf.parent, { [leaf.jsonName]: asListItem ? [json] : json }, readOptions);
  } catch (err) {
    throw invalid(`${what}: ${(err as Error).message}`);
  }
  return json;
}

function isBool(field: DescField): boolean {
  if (field.fieldKind === "scalar" || (field.fieldKind === "list" && field.listKind === "scalar")) {
    return field.scalar === ScalarType.BOOL;
  }
  return field.fieldKind === "message" && field.message.typeName === "google.protobuf.BoolValue";
}

/**
 * Puts a path variable's value into the JSON object. The path wins over the body, but a body
 * that says something else for the same field is refused rather than silently overridden.
 */
function setPathValue(json: JsonObject, fields: readonly DescField[], value: JsonValue, name: string): void {
  const { parent, leaf } = descend(json, fields, name);
  const key = keyOf(parent, leaf);
  if (key !== undefined) {
    const existing = parent[key];
    if (existing !== null && existing !== undefined && String(existing) !== String(value)) {
      throw invalid(
        `field ${fieldPathName(fields)} is bound by the URL path ("${String(value)}") but the body says ${JSON.stringify(existing)}`,
      );
    }
    delete parent[key];
  }
  parent[leaf.jsonName] = value;
}

function setQueryValue(json: JsonObject, fields: readonly DescField[], value: JsonValue, name: string): void {
  const { parent, leaf } = descend(json, fields, name);
  if (keyOf(parent, leaf) !== undefined) {
    throw invalid(`query parameter "${name}": field ${fieldPathName(fields)} is given more than once`);
  }
  const other = leaf.oneof?.fields.find((f) => f !== leaf && keyOf(parent, f) !== undefined);
  if (other !== undefined) {
    throw invalid(
      `query parameter "${name}": ${leaf.name} and ${other.name} are members of one oneof; give one`,
    );
  }
  parent[leaf.jsonName] = value;
}

/** Walks (creating objects as needed) to the object that holds the leaf field. */
function descend(
  json: JsonObject,
  fields: readonly DescField[],
  name: string,
): { parent: JsonObject; leaf: DescField } {
  let parent = json;
  for (const field of fields.slice(0, -1)) {
    const key = keyOf(parent, field) ?? field.jsonName;
    const next = parent[key];
    if (next === undefined || next === null) {
      const created: JsonObject = {};
      parent[key] = created;
      parent = created;
    } else if (typeof next === "object" && !Array.isArray(next)) {
      // A copy: the caller's parsed body is never modified.
      const copy: JsonObject = { ...next };
      parent[key] = copy;
      parent = copy;
    } else {
      throw invalid(`"${name}": field ${field.name} in the body must be an object`);
    }
  }
  return { parent, leaf: fields[fields.length - 1] as DescField };
}

/** The key under which a JSON object holds a field: its JSON name or its proto name. */
function keyOf(object: JsonObject, field: DescField): string | undefined {
  if (Object.hasOwn(object, field.jsonName)) return field.jsonName;
  if (Object.hasOwn(object, field.name)) return field.name;
  return undefined;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
