/**
 * REST routes from the `google.api.http` annotations of proto services (gRPC transcoding, see
 * proto/google/api/http.proto and docs/adr/0009-rest-transcoding.md). Every binding of a method
 * (the rule and its `additional_bindings`) is one route. Contracts that cannot be served
 * faithfully are refused here, when the gateway starts, with an Error naming the method.
 */
import { type DescField, type DescMethodUnary, type DescService, getOption } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.ts";
import type { HttpRule } from "../../gen/google/api/http_pb.ts";
import { method as troupeMethod } from "../../gen/troupe/v1/options_pb.ts";
import { isPrimitiveField, resolveFieldPath } from "./field-path.ts";
import { type PathTemplate, parsePathTemplate } from "./path-template.ts";

/** A path variable of a route and the request field it sets. */
export interface RouteVariable {
  /** As written in the template: `book.name`. */
  readonly name: string;
  /** The fields from the request message down to the bound one. */
  readonly fields: readonly DescField[];
}

export interface RestRoute {
  /** Upper case: GET, POST, PUT, PATCH, DELETE, or a custom method such as HEAD. */
  readonly httpMethod: string;
  /** As written in the annotation: `/v1/payments/{payment_id}:refund`. */
  readonly template: string;
  readonly path: PathTemplate;
  readonly variables: readonly RouteVariable[];
  /** `""` (no body: fields come from the query), `"*"` (every field not in the path) or a field. */
  readonly body: string;
  /** The top-level request field the body is, when `body` names one. */
  readonly bodyField: DescField | undefined;
  /** The top-level response field sent as the HTTP body, when `response_body` names one. */
  readonly responseBodyField: DescField | undefined;
  readonly service: DescService;
  readonly method: DescMethodUnary;
  /** From `(troupe.v1.method)`: reachable through the gateway at all. */
  readonly public: boolean;
  /** From `(troupe.v1.method)`: needs a verified JWT. */
  readonly authRequired: boolean;
  /** 0 for the rule itself, n for its n-th additional binding. */
  readonly binding: number;
}

/**
 * The routes of every annotated method, in declaration order. Throws for a streaming method
 * with an annotation, a template that breaks the grammar, a variable or body naming a field the
 * message lacks (or one that cannot hold a path value), nested additional bindings, a custom
 * method `*`, and two routes the router could not tell apart.
 */
export function restRoutes(services: readonly DescService[]): RestRoute[] {
  const routes: RestRoute[] = [];
  const seen = new Map<string, string>();
  for (const service of services) {
    for (const method of service.methods) {
      const rule = getOption(method, http);
      if (rule.pattern.case === undefined && rule.additionalBindings.length === 0) continue;
      const where = `${service.typeName}.${method.name}`;
      if (method.methodKind !== "unary") {
        throw new Error(
          `${where}: google.api.http on a ${method.methodKind.replace("_", "-")} method; REST transcoding serves unary methods only (use Connect, gRPC-Web or gRPC for streams)`,
        );
      }
      const options = getOption(method, troupeMethod);
      const bindings = [rule, ...rule.additionalBindings];
      for (const [index, binding] of bindings.entries()) {
        if (index > 0 && binding.additionalBindings.length > 0) {
          throw new Error(`${where}: additional_bindings must not nest additional_bindings`);
        }
        // methodKind was checked above; DescMethod is not a union TypeScript could narrow.
        const unary = method as DescMethodUnary;
        const route = routeOf(binding, index, service, unary, options.public, options.authRequired);
        const key = `${route.httpMethod} ${shapeOf(route.path)}`;
        const other = seen.get(key);
        if (other !== undefined) {
          throw new Error(
            `${where}: ${route.httpMethod} ${route.template} cannot be told apart from ${other}`,
          );
        }
        seen.set(key, `${where} (${route.httpMethod} ${route.template})`);
        routes.push(route);
      }
    }
  }
  return routes;
}

function routeOf(
  rule: HttpRule,
  binding: number,
  service: DescService,
  method: DescMethodUnary,
  isPublic: boolean,
  authRequired: boolean,
): RestRoute {
  const where = `${service.typeName}.${method.name}`;
  const fail = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  const { httpMethod, template } = patternOf(rule, fail);
  let path: PathTemplate;
  try {
    path = parsePathTemplate(template);
  } catch (err) {
    return fail((err as Error).message);
  }
  const input = method.input;
  const variables = path.variables.map((v): RouteVariable => {
    const resolved = resolveFieldPath(input, v.name.split("."), false);
    if ("error" in resolved) return fail(`path variable {${v.name}}: ${resolved.error}`);
    const leaf = resolved.fields[resolved.fields.length - 1] as DescField;
    if (!isPrimitiveField(leaf)) {
      fail(
        `path variable {${v.name}} must name a singular scalar or enum field, not a ${leaf.fieldKind} field`,
      );
    }
    return { name: v.name, fields: resolved.fields };
  });
  let bodyField: DescField | undefined;
  if (rule.body !== "" && rule.body !== "*") {
    bodyField = input.fields.find((f) => f.name === rule.body);
    if (!bodyField) fail(`body "${rule.body}" is not a top-level field of ${input.typeName}`);
    if (variables.some((v) => v.fields.length === 1 && v.fields[0] === bodyField)) {
      fail(`body "${rule.body}" is also bound by the path`);
    }
  }
  let responseBodyField: DescField | undefined;
  if (rule.responseBody !== "") {
    responseBodyField = method.output.fields.find((f) => f.name === rule.responseBody);
    if (!responseBodyField) {
      fail(`response_body "${rule.responseBody}" is not a top-level field of ${method.output.typeName}`);
    }
  }
  return {
    httpMethod,
    template,
    path,
    variables,
    body: rule.body,
    bodyField,
    responseBodyField,
    service,
    method,
    public: isPublic,
    authRequired,
    binding,
  };
}

function patternOf(rule: HttpRule, fail: (why: string) => never): { httpMethod: string; template: string } {
  switch (rule.pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      return { httpMethod: rule.pattern.case.toUpperCase(), template: rule.pattern.value };
    case "custom": {
      const { kind, path } = rule.pattern.value;
      // RFC 9110 method token; "*" (any method) is refused: it would shadow every other route.
      if (!/^[A-Za-z]+$/.test(kind)) fail(`custom HTTP method "${kind}" is not supported`);
      return { httpMethod: kind.toUpperCase(), template: path };
    }
    default:
      return fail("google.api.http binding without a pattern (get, put, post, delete, patch or custom)");
  }
}

/** The template with variable names erased: two routes of one shape match the same paths. */
function shapeOf(path: PathTemplate): string {
  const segs = path.segments.map((s) =>
    s.kind === "literal" ? s.value : s.kind === "wildcard" ? "*" : "**",
  );
  return `/${segs.join("/")}${path.verb === undefined ? "" : `:${path.verb}`}`;
}
