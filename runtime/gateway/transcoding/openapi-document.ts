/**
 * An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0) of the REST routes that
 * `restRoutes` derives from `google.api.http` annotations: one operation per binding, its path
 * and query parameters and body in the proto3 JSON mapping, bearer authentication where the
 * contract asks for it, and Connect's error body (https://connectrpc.com/docs/protocol/#error-end-stream)
 * as the answer of every failure. The generated descriptors carry no source comments, so the
 * descriptions are derived from names.
 */
import type { DescField, DescService } from "@bufbuild/protobuf";
import { fieldPathName, isNestable, isPrimitiveWkt } from "./field-path.ts";
import { createSchemaCollector, type JsonSchema, type SchemaCollector } from "./json-schemas.ts";
import { type OpenApiPathParameter, openApiPath, variableText } from "./path-template.ts";
import { type RestRoute, restRoutes } from "./rest-routes.ts";

export interface OpenApiOptions {
  /** `info.title`. */
  readonly title: string;
  /** `info.version`: the API's version, not OpenAPI's. */
  readonly version: string;
  /** Document only methods marked `(troupe.v1.method) = { public: true }` (what the gateway serves). */
  readonly onlyPublic: boolean;
  /** `servers[0].url`, e.g. `https://api.example.com`; omitted: the document's own origin. */
  readonly serverUrl?: string;
}

/** Operations OpenAPI 3.1 can describe; routes with another custom method are left out. */
const OPENAPI_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const ERROR_SCHEMA = "ConnectError";
const BEARER = "bearerAuth";
/** Depth of nested messages expanded into `a.b.c` query parameters. */
const MAX_QUERY_DEPTH = 3;

export function openApiDocument(
  services: readonly DescService[],
  options: OpenApiOptions,
): Record<string, unknown> {
  const schemas = createSchemaCollector();
  const paths: Record<string, Record<string, unknown>> = {};
  const operationIds = new Set<string>();
  const tags = new Map<string, string>();
  for (const route of restRoutes(services)) {
    if (options.onlyPublic && !route.public) continue;
    const verb = route.httpMethod.toLowerCase();
    if (!OPENAPI_METHODS.has(verb)) continue;
    const { path, parameters } = openApiPath(route.path);
    const item = paths[path] ?? {};
    paths[path] = item;
    if (item[verb] !== undefined) {
      throw new Error(
        `${route.service.typeName}.${route.method.name}: ${route.httpMethod} ${path} is documented twice; OpenAPI cannot tell ${route.template} apart`,
      );
    }
    item[verb] = operation(route, parameters, schemas, uniqueId(route, operationIds));
    tags.set(route.service.typeName, `Methods of ${route.service.typeName}.`);
  }
  const doc: Record<string, unknown> = {
    openapi: "3.1.0",
    info: { title: options.title, version: options.version },
  };
  if (options.serverUrl !== undefined) doc.servers = [{ url: options.serverUrl }];
  doc.tags = [...tags].map(([name, description]) => ({ name, description }));
  doc.paths = paths;
  doc.components = {
    schemas: { ...schemas.components, [ERROR_SCHEMA]: connectErrorSchema() },
    securitySchemes: { [BEARER]: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
  };
  return doc;
}

function uniqueId(route: RestRoute, taken: Set<string>): string {
  const suffix = route.binding === 0 ? "" : `_${route.binding}`;
  let id = `${route.service.name}_${route.method.name}${suffix}`;
  if (taken.has(id)) id = `${route.service.typeName.replaceAll(".", "_")}_${route.method.name}${suffix}`;
  taken.add(id);
  return id;
}

function operation(
  route: RestRoute,
  inPath: readonly OpenApiPathParameter[],
  schemas: SchemaCollector,
  operationId: string,
): Record<string, unknown> {
  const { service, method } = route;
  const op: Record<string, unknown> = {
    operationId,
    tags: [service.typeName],
    summary: `${service.name}.${method.name}`,
    description: `Calls \`${service.typeName}.${method.name}\` (${route.authRequired ? "needs a bearer token" : "no authentication"}).`,
  };
  if (method.deprecated) op.deprecated = true;
  op.parameters = [...pathParameters(route, inPath, schemas), ...queryParameters(route, schemas)];
  const body = requestBodySchema(route, schemas);
  if (body !== undefined) op.requestBody = { content: { "application/json": { schema: body } } };
  const response =
    route.responseBodyField !== undefined
      ? schemas.field(route.responseBodyField)
      : schemas.message(method.output);
  op.responses = {
    "200": { description: "Success", content: { "application/json": { schema: response } } },
    default: {
      description:
        "A Connect error; the HTTP status follows from its code (invalid_argument → 400, not_found → 404 …).",
      content: { "application/json": { schema: { $ref: `#/components/schemas/${ERROR_SCHEMA}` } } },
    },
  };
  if (route.authRequired) op.security = [{ [BEARER]: [] }];
  return op;
}

function pathParameters(
  route: RestRoute,
  inPath: readonly OpenApiPathParameter[],
  schemas: SchemaCollector,
): JsonSchema[] {
  return inPath.map(({ name, variable, part }) => {
    if (part === "whole") {
      const bound = route.variables.find((v) => v.name === variable.name);
      const leaf = bound?.fields[bound.fields.length - 1];
      const schema = leaf ? schemas.field(leaf) : { type: "string" };
      return { name, in: "path", required: true, description: `Sets \`${variable.name}\`.`, schema };
    }
    const whole = `\`${variable.name}\` (\`${variableText(route.path, variable)}\`)`;
    const description =
      part === "segment"
        ? `One segment of ${whole}.`
        : `The rest of ${whole}; may span segments: send its \`/\` unencoded.`;
    return { name, in: "path", required: true, description, schema: { type: "string" } };
  });
}

/** Every leaf field the query may set, under its JSON names (proto names work too). */
function queryParameters(route: RestRoute, schemas: SchemaCollector): JsonSchema[] {
  if (route.body === "*") return [];
  const bound = new Set(route.variables.map((v) => fieldPathName(v.fields)));
  const params: JsonSchema[] = [];
  const walk = (fields: readonly DescField[], prefix: string, chain: readonly DescField[], depth: number) => {
    for (const field of fields) {
      if (depth === 0 && field === route.bodyField) continue;
      const path = [...chain, field];
      if (bound.has(fieldPathName(path))) continue;
      const name = `${prefix}${field.jsonName}`;
      if (isNestable(field)) {
        if (depth + 1 < MAX_QUERY_DEPTH && !chain.some((f) => f.parent === field.message)) {
          walk(field.message.fields, `${name}.`, path, depth + 1);
        }
        continue;
      }
      if (field.fieldKind === "map") continue;
      if (field.fieldKind === "list" && field.listKind === "message" && !isPrimitiveWkt(field.message))
        continue;
      const schema = schemas.field(field);
      params.push({
        name,
        in: "query",
        required: false,
        schema,
        ...(field.fieldKind === "list" ? { explode: true } : {}),
      });
    }
  };
  walk(route.method.input.fields, "", [], 0);
  return params;
}

function requestBodySchema(route: RestRoute, schemas: SchemaCollector): JsonSchema | undefined {
  if (route.bodyField !== undefined) return schemas.field(route.bodyField);
  if (route.body !== "*") return undefined;
  const input = route.method.input;
  const inPath = new Set(route.variables.filter((v) => v.fields.length === 1).map((v) => v.fields[0]));
  if (inPath.size === 0) return schemas.message(input);
  // The message without the fields the path sets.
  const properties: Record<string, JsonSchema> = {};
  for (const field of input.fields) if (!inPath.has(field)) properties[field.jsonName] = schemas.field(field);
  return { type: "object", title: input.name, properties };
}

function connectErrorSchema(): JsonSchema {
  return {
    type: "object",
    title: "Connect error",
    description: "https://connectrpc.com/docs/protocol/#error-end-stream",
    properties: {
      code: {
        type: "string",
        enum: [
          "canceled",
          "unknown",
          "invalid_argument",
          "deadline_exceeded",
          "not_found",
          "already_exists",
          "permission_denied",
          "resource_exhausted",
          "failed_precondition",
          "aborted",
          "out_of_range",
          "unimplemented",
          "internal",
          "unavailable",
          "data_loss",
          "unauthenticated",
        ],
      },
      message: { type: "string" },
      details: {
        type: "array",
        items: {
          type: "object",
          properties: {
            type: { type: "string", description: "Full name of the detail's protobuf message." },
            value: { type: "string", contentEncoding: "base64", description: "The message, binary, base64." },
            debug: { description: "The message in JSON, when the server adds it." },
          },
          required: ["type", "value"],
        },
      },
    },
    required: ["code"],
  };
}
