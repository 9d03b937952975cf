/**
 * The OpenAPI 3.1 document derived from `google.api.http` annotations
 * (runtime/gateway/transcoding/openapi-document.ts): structurally valid (every $ref resolves,
 * every path parameter declared, operation ids unique), only public methods when asked, and
 * schemas in the proto3 JSON mapping. Every documented operation, filled in as a client would,
 * reaches its method through the REST router.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createRestRouter, openApiDocument, restRoutes } from "troupe/gateway";
import { BillingService } from "../../proto/gen/shop/v1/billing_pb.ts";
import { EmailService } from "../../proto/gen/shop/v1/email_pb.ts";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { OrderService } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentService } from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { LibraryService } from "../../proto/gen/troupe/testing/v1/library_pb.ts";

const SERVICES = [
  UserService,
  ProductService,
  OrderService,
  PaymentService,
  InventoryService,
  EmailService,
  BillingService,
  LibraryService,
];

// Loose views of the document, enough for the checks below.
type Json = Record<string, unknown>;
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema: Json;
}
interface Operation {
  operationId: string;
  parameters: Parameter[];
  requestBody?: { content: { "application/json": { schema: Json } } };
  responses: Record<string, { content: { "application/json": { schema: Json } } }>;
  security?: Record<string, string[]>[];
}
interface Doc {
  openapi: string;
  info: Json;
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
}

function documentOf(onlyPublic: boolean, serverUrl?: string): Doc {
  const options = { title: "Shop", version: "1.2.3", onlyPublic, ...(serverUrl ? { serverUrl } : {}) };
  return openApiDocument(SERVICES, options) as unknown as Doc;
}

function operations(doc: Doc): [string, string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([verb, op]): [string, string, Operation] => [path, verb, op]),
  );
}

/** Every `$ref` anywhere in the document. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, out);
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string") out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

function resolve(doc: Doc, ref: string): Json {
  const prefix = "#/components/schemas/";
  assert.ok(ref.startsWith(prefix), ref);
  const schema = doc.components.schemas[ref.slice(prefix.length)];
  assert.ok(schema, `${ref} resolves`);
  return schema;
}

describe("the OpenAPI document", () => {
  for (const onlyPublic of [true, false]) {
    test(`is structurally valid (onlyPublic: ${onlyPublic})`, () => {
      const doc = documentOf(onlyPublic);
      assert.equal(doc.openapi, "3.1.0");
      assert.deepEqual(doc.info, { title: "Shop", version: "1.2.3" });
      const allRefs = refs(doc);
      assert.ok(allRefs.length > 20);
      for (const ref of allRefs) resolve(doc, ref);
      const ids = operations(doc).map(([, , op]) => op.operationId);
      assert.equal(new Set(ids).size, ids.length, `operation ids are unique: ${ids.join(", ")}`);
      for (const [path, verb, op] of operations(doc)) {
        const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
        const declared = op.parameters.filter((p) => p.in === "path");
        assert.deepEqual(declared.map((p) => p.name).sort(), inTemplate, `${verb} ${path} declares its path`);
        for (const p of declared) assert.equal(p.required, true, `${verb} ${path} {${p.name}} is required`);
        const keys = op.parameters.map((p) => `${p.in}:${p.name}`);
        assert.equal(new Set(keys).size, keys.length, `${verb} ${path} has no duplicate parameter`);
        assert.ok(op.responses["200"], `${verb} ${path} documents success`);
        assert.equal(
          op.responses.default?.content["application/json"].schema.$ref,
          "#/components/schemas/ConnectError",
        );
      }
    });
  }

  test("documents every route, and only public methods when onlyPublic", () => {
    const all = documentOf(false);
    const pub = documentOf(true);
    const publicRoutes = restRoutes(SERVICES).filter((r) => r.public);
    assert.equal(operations(all).length, restRoutes(SERVICES).length);
    assert.equal(operations(pub).length, publicRoutes.length);
    assert.ok(
      all.paths["/v1/shelves/{shelves}/books/{books}"]?.delete,
      "the private DeleteBook with onlyPublic false",
    );
    assert.equal(
      pub.paths["/v1/shelves/{shelves}/books/{books}"]?.delete,
      undefined,
      "and not with onlyPublic",
    );
    assert.ok(pub.paths["/v1/shelves/{shelves}/books/{books}"]?.get);
    assert.ok(pub.paths["/v1/status"]?.head, "custom method HEAD");
  });

  test("auth_required methods need a bearer token; others do not", () => {
    const doc = documentOf(true, "https://shop.example");
    assert.deepEqual(doc.servers, [{ url: "https://shop.example" }]);
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
      type: "http",
      scheme: "bearer",
      bearerFormat: "JWT",
    });
    assert.deepEqual(doc.paths["/v1/orders"]?.post?.security, [{ bearerAuth: [] }]);
    assert.deepEqual(doc.paths["/v1/users/{id}"]?.get?.security, [{ bearerAuth: [] }]);
    assert.equal(doc.paths["/v1/users"]?.post?.security, undefined);
    assert.equal(doc.paths["/v1/products/{id}"]?.get?.security, undefined);
  });

  test("GET routes take the remaining fields as query parameters; body '*' routes take none", () => {
    const doc = documentOf(true);
    const list = doc.paths["/v1/products"]?.get;
    assert.deepEqual(
      list?.parameters.map((p) => `${p.in}:${p.name}:${p.schema.type}`),
      [
        "query:pageSize:integer",
        "query:pageToken:string",
        "query:query:string",
        "query:includeInactive:boolean",
      ],
    );
    const search = doc.paths["/v1/books:search"]?.get?.parameters ?? [];
    const byName = new Map(search.map((p) => [p.name, p]));
    assert.deepEqual(byName.get("isbn")?.schema, { type: "string", format: "int64", pattern: "^-?[0-9]+$" });
    assert.deepEqual(byName.get("genres")?.schema, {
      type: "array",
      items: { $ref: "#/components/schemas/troupe.testing.v1.Genre" },
    });
    assert.ok(byName.has("filter.minPages") && byName.has("filter.author.name"), "nested fields as a.b");
    assert.ok(
      !byName.has("labels") && !byName.has("authors") && !byName.has("filter"),
      "maps and messages left out",
    );
    assert.deepEqual(byName.get("addedAfter")?.schema, { type: "string", format: "date-time" });
    const refund = doc.paths["/v1/payments/{payment_id}:refund"]?.post;
    assert.deepEqual(
      refund?.parameters.map((p) => p.name),
      ["payment_id"],
    );
  });

  test("request bodies: '*' without the path's fields, a named field as its own schema", () => {
    const doc = documentOf(true);
    const refund =
      doc.paths["/v1/payments/{payment_id}:refund"]?.post?.requestBody?.content["application/json"].schema;
    assert.deepEqual(Object.keys((refund?.properties as Json) ?? {}), ["idempotencyKey", "amount", "reason"]);
    const register = doc.paths["/v1/users"]?.post?.requestBody?.content["application/json"].schema;
    assert.deepEqual(register, { $ref: "#/components/schemas/shop.v1.RegisterUserRequest" });
    const update = doc.paths["/v1/shelves/{shelves}/books/{books}"]?.patch;
    assert.deepEqual(update?.requestBody?.content["application/json"].schema, {
      $ref: "#/components/schemas/troupe.testing.v1.Book",
    });
    assert.equal(doc.paths["/v1/products/{id}"]?.get?.requestBody, undefined);
  });

  test("response_body documents the field; otherwise the whole response message", () => {
    const doc = documentOf(true);
    const ok = (path: string, verb: string) =>
      doc.paths[path]?.[verb]?.responses["200"]?.content["application/json"].schema;
    assert.deepEqual(ok("/v1/shelves/{shelves}/books", "get"), {
      type: "array",
      items: { $ref: "#/components/schemas/troupe.testing.v1.Book" },
    });
    assert.deepEqual(ok("/v1/shelves/{shelves}/books/{books}", "get"), {
      $ref: "#/components/schemas/troupe.testing.v1.Book",
    });
    assert.deepEqual(ok("/v1/payments/{id}", "get"), {
      $ref: "#/components/schemas/shop.v1.GetPaymentResponse",
    });
  });

  test("schemas follow the proto3 JSON mapping", () => {
    const { schemas } = documentOf(true).components;
    const props = (name: string) => schemas[name]?.properties as Record<string, Json>;
    const money = props("shop.v1.Money");
    assert.deepEqual(money.amountMinor, { type: "string", format: "int64", pattern: "^-?[0-9]+$" });
    const payment = props("shop.v1.Payment");
    assert.deepEqual(payment.status, { $ref: "#/components/schemas/shop.v1.PaymentStatus" });
    assert.equal(schemas["shop.v1.PaymentStatus"]?.type, "string");
    assert.ok(
      (schemas["shop.v1.PaymentStatus"]?.enum as string[] | undefined)?.includes("PAYMENT_STATUS_CAPTURED"),
    );
    assert.deepEqual(payment.createdAt, { type: "string", format: "date-time" });
    const book = props("troupe.testing.v1.Book");
    assert.deepEqual(book.labels, { type: "object", additionalProperties: { type: "string" } });
    assert.deepEqual(book.authors, {
      type: "array",
      items: { $ref: "#/components/schemas/troupe.testing.v1.Author" },
    });
    assert.deepEqual(
      book.previous,
      { $ref: "#/components/schemas/troupe.testing.v1.Book" },
      "recursion by $ref",
    );
    assert.deepEqual(book.rating, { type: "number", format: "double" });
    assert.deepEqual(book.extra, { type: "object", additionalProperties: true });
    assert.equal(book.loanPeriod?.type, "string");
    assert.match(
      String(schemas["troupe.testing.v1.Book"]?.description),
      /at most one of `shelfMark`, `downloadUrl`/,
    );
    const error = schemas.ConnectError?.properties as Record<string, Json>;
    assert.ok((error.code?.enum as string[] | undefined)?.includes("invalid_argument"));
  });

  test("every documented operation, filled in as a client would, reaches its method", () => {
    const doc = documentOf(false);
    const router = createRestRouter(restRoutes(SERVICES));
    for (const [path, verb, op] of operations(doc)) {
      // A client percent-encodes each parameter; "**" parameters keep their slashes.
      const url = path.replace(/\{([^}]+)\}/g, (_, name: string) =>
        name === "path" ? "a/b c" : encodeURIComponent(`v ${name}`),
      );
      const match = router.match(verb.toUpperCase(), url.replaceAll(" ", "%20"));
      assert.ok(match && "route" in match, `${verb} ${url} routes`);
      const expected = `${match.route.service.name}_${match.route.method.name}`;
      assert.ok(op.operationId.startsWith(expected), `${verb} ${path}: ${op.operationId} is ${expected}`);
    }
  });
});
