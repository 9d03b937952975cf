/**
 * REST transcoding from `google.api.http` annotations (runtime/gateway/transcoding/): routes of
 * the shop's contracts and of the test-only LibraryService (proto/troupe/testing/v1), path
 * matching, request building from path, query and body, response bodies, and the contracts that
 * are refused. Pure functions: no NATS needed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  create,
  createFileRegistry,
  type DescService,
  type Message,
  type MessageInitShape,
  setExtension,
  toJson,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, MethodOptionsSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createRestRouter,
  type RestMatch,
  type RestRoute,
  restRequest,
  restResponse,
  restRoutes,
} from "troupe/gateway";
import { http } from "troupe/gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "troupe/gen/google/api/http_pb.js";
import { BillingService } from "../../proto/gen/shop/v1/billing_pb.ts";
import { EmailService } from "../../proto/gen/shop/v1/email_pb.ts";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { OrderService } from "../../proto/gen/shop/v1/order_pb.ts";
import {
  GetPaymentResponseSchema,
  PaymentService,
  PaymentStatus,
} from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import {
  BookSchema,
  Genre,
  GetBookResponseSchema,
  LibraryService,
  ListBooksResponseSchema,
} from "../../proto/gen/troupe/testing/v1/library_pb.ts";

const SHOP = [
  UserService,
  ProductService,
  OrderService,
  PaymentService,
  InventoryService,
  EmailService,
  BillingService,
];
const routes = restRoutes([...SHOP, LibraryService]);
const router = createRestRouter(routes);

/** Routes a request and builds its message, as the gateway will. */
function call(httpMethod: string, url: string, body?: unknown): { route: RestRoute; message: Message } {
  const u = new URL(url, "http://gateway.test");
  const m = router.match(httpMethod, u.pathname);
  assert.ok(m && "route" in m, `${httpMethod} ${url} has a route`);
  return { route: m.route, message: restRequest(m.route, m.vars, u.searchParams, body) };
}

/** The message of a call in the proto3 JSON mapping, which is what the assertions compare. */
function callJson(httpMethod: string, url: string, body?: unknown): unknown {
  const { route, message } = call(httpMethod, url, body);
  return toJson(route.method.input, message);
}

function assertInvalid(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `a ConnectError, got ${String(err)}`);
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.rawMessage, mentions);
    return true;
  });
}

describe("routes from the shop's contracts", () => {
  test("every annotated method of the shop gives its route, with troupe.v1.method", () => {
    const shop = restRoutes(SHOP).map(
      (r) =>
        `${r.httpMethod} ${r.template} ${r.service.name}.${r.method.name} body=${r.body} public=${r.public} auth=${r.authRequired}`,
    );
    assert.deepEqual(shop, [
      "POST /v1/users UserService.RegisterUser body=* public=true auth=false",
      "GET /v1/users/{id} UserService.GetUser body= public=true auth=true",
      "POST /v1/users/{user_id}/recently-viewed UserService.RecordProductView body=* public=true auth=true",
      "GET /v1/users/{user_id}/recently-viewed UserService.ListRecentlyViewed body= public=true auth=true",
      "GET /v1/products/{id} ProductService.GetProduct body= public=true auth=false",
      "GET /v1/products ProductService.ListProducts body= public=true auth=false",
      "POST /v1/orders OrderService.PlaceOrder body=* public=true auth=true",
      "GET /v1/orders/{id} OrderService.GetOrder body= public=true auth=true",
      "POST /v1/payments/{payment_id}:refund PaymentService.Refund body=* public=true auth=true",
      "GET /v1/payments/{id} PaymentService.GetPayment body= public=true auth=true",
      "GET /v1/stock/{product_id} InventoryService.GetStock body= public=true auth=false",
    ]);
  });

  test("each shop route reaches its method with its path variables", () => {
    const cases: [string, string, string, Record<string, unknown>][] = [
      ["GET", "/v1/users/u-1", "GetUser", { id: "u-1" }],
      [
        "GET",
        "/v1/users/u-1/recently-viewed?page_size=5",
        "ListRecentlyViewed",
        { userId: "u-1", pageSize: 5 },
      ],
      ["GET", "/v1/products/p-1001", "GetProduct", { id: "p-1001" }],
      ["GET", "/v1/orders/o-9", "GetOrder", { id: "o-9" }],
      ["GET", "/v1/payments/pay-1", "GetPayment", { id: "pay-1" }],
      ["GET", "/v1/stock/p-1001", "GetStock", { productId: "p-1001" }],
    ];
    for (const [verb, url, method, json] of cases) {
      assert.equal(call(verb, url).route.method.name, method, url);
      assert.deepEqual(callJson(verb, url), json, url);
    }
  });

  test("body '*' with a :verb: the path variable and the body make the request", () => {
    const body = { idempotencyKey: "k-1", amount: { amountMinor: "9007199254740993", currency: "EUR" } };
    assert.deepEqual(callJson("POST", "/v1/payments/pay-1:refund", body), { paymentId: "pay-1", ...body });
    assert.deepEqual(
      callJson("POST", "/v1/orders", { user_id: "u-1", items: [{ productId: "p", quantity: 2 }] }),
      {
        userId: "u-1",
        items: [{ productId: "p", quantity: 2 }],
      },
    );
    assert.deepEqual(callJson("POST", "/v1/users"), {}, "no body for body '*' is the empty message");
  });

  test("methods without an annotation and streaming methods have no route", () => {
    const names = new Set(routes.map((r) => r.method.name));
    for (const name of [
      "WatchProducts",
      "LookupProducts",
      "ImportStock",
      "Charge",
      "SendEmail",
      "WatchShelf",
    ]) {
      assert.ok(!names.has(name), name);
    }
  });
});

describe("matching paths", () => {
  test("path variables are URL-decoded; a one-segment variable never holds a '/'", () => {
    assert.deepEqual(callJson("GET", "/v1/products/p%201%3Fx%C3%BC"), { id: "p 1?xü" });
    assertInvalid(() => call("GET", "/v1/products/a%2Fb"), /path variable "id" .*cannot contain "\/"/);
    assertInvalid(() => call("GET", "/v1/products/p%zz"), /path variable "id" is not valid percent-encoding/);
  });

  test("empty segments, trailing slashes and relative paths match nothing", () => {
    assert.equal(router.match("GET", "/v1/products/"), undefined);
    assert.equal(router.match("GET", "/v1//products"), undefined);
    assert.equal(router.match("GET", "/v1/products/p1/"), undefined);
    assert.equal(router.match("GET", "v1/products"), undefined);
    assert.equal(router.match("GET", "/v9/nothing"), undefined);
  });

  test("multi-segment variables, nested field paths and ** keep their slashes", () => {
    assert.deepEqual(callJson("GET", "/v1/shelves/s1/books/b%201"), { name: "shelves/s1/books/b 1" });
    // http.proto: in a multi-segment variable %2F stays encoded.
    assert.deepEqual(callJson("GET", "/v1/shelves/s1/books/a%2Fb"), { name: "shelves/s1/books/a%2Fb" });
    assert.deepEqual(callJson("PATCH", "/v1/shelves/s1/books/b1", { title: "T" }), {
      book: { name: "shelves/s1/books/b1", title: "T" },
    });
    assert.deepEqual(callJson("GET", "/v1/shelves/s1/books"), { parent: "shelves/s1" });
    assert.deepEqual(callJson("GET", "/v1/archive/2024/scans/cover%20a.png"), {
      path: "2024/scans/cover a.png",
    });
    assert.deepEqual(callJson("GET", "/v1/archive"), {}, "** matches zero segments");
  });

  test("custom verbs and additional bindings are routes of their own", () => {
    const checkout = call("POST", "/v1/shelves/s1/books/b1:checkout", { readerId: "r-1" });
    assert.equal(checkout.route.method.name, "CheckoutBook");
    assert.deepEqual(toJson(checkout.route.method.input, checkout.message), {
      name: "shelves/s1/books/b1",
      readerId: "r-1",
    });
    const lookup = call("GET", "/v1/books:lookup?name=shelves%2Fs1%2Fbooks%2Fb1");
    assert.equal(lookup.route.method.name, "GetBook");
    assert.equal(lookup.route.binding, 1);
    assert.deepEqual(toJson(lookup.route.method.input, lookup.message), { name: "shelves/s1/books/b1" });
    assert.deepEqual(callJson("GET", "/v2/shelves/s1/books?pageSize=3"), { shelfId: "s1", pageSize: 3 });
    assert.equal(call("HEAD", "/v1/status").route.method.name, "GetStatus");
  });

  test("a path with another method's route answers the allowed methods (405)", () => {
    assert.deepEqual(router.match("PUT", "/v1/shelves/s1/books/b1"), { allowed: ["DELETE", "GET", "PATCH"] });
    assert.deepEqual(router.match("DELETE", "/v1/products"), { allowed: ["GET"] });
    assert.deepEqual(router.match("GET", "/v1/orders"), { allowed: ["POST"] });
    const patch = router.match("patch", "/v1/shelves/s1/books/b1");
    assert.ok(
      patch && "route" in patch && patch.route.method.name === "UpdateBook",
      "methods are case-blind",
    );
  });

  test("literal segments win over variables, variables over **, whatever the declaration order", () => {
    const contract = testContract([
      { name: "ById", rule: { pattern: { case: "get", value: "/v1/items/{id}" } } },
      { name: "Special", rule: { pattern: { case: "get", value: "/v1/items/special" } } },
      { name: "Anything", rule: { pattern: { case: "get", value: "/v1/{id=**}" } } },
      { name: "Archive", rule: { pattern: { case: "get", value: "/v1/items/{id}:archive" } } },
      { name: "Nested", rule: { pattern: { case: "get", value: "/v1/items/{id}/parts" } } },
    ]);
    const declared = restRoutes([contract]);
    for (const r of [createRestRouter(declared), createRestRouter([...declared].reverse())]) {
      const which = (path: string) => {
        const m = r.match("GET", path) as RestMatch & { route: RestRoute; vars: Record<string, string> };
        return `${m.route.method.name} ${JSON.stringify(m.vars)}`;
      };
      assert.equal(which("/v1/items/special"), "Special {}");
      assert.equal(which("/v1/items/i-1"), 'ById {"id":"i-1"}');
      assert.equal(which("/v1/items/i-1:archive"), 'Archive {"id":"i-1"}');
      assert.equal(which("/v1/items/i-1/parts"), 'Nested {"id":"i-1"}');
      assert.equal(which("/v1/items/i-1/other"), 'Anything {"id":"items/i-1/other"}');
      assert.equal(which("/v1/items"), 'Anything {"id":"items"}');
    }
  });
});

describe("query parameters", () => {
  test("scalars, repeated, nested, enums, 64-bit integers, bools and well-known types", () => {
    const query = new URLSearchParams([
      ["query", "dune"],
      ["genres", "GENRE_POETRY"],
      ["genres", "1"], // an enum by number
      ["genre", "GENRE_NON_FICTION"],
      ["isbn", "9007199254740993"], // 2^53 + 1 survives: int64 stays a string
      ["min_copies", "18446744073709551615"],
      ["availableOnly", "true"], // JSON name
      ["min_rating", "4.5"],
      ["tags", "a"],
      ["tags", "b c"],
      ["filter.min_pages", "100"],
      ["filter.author.name", "Herbert"],
      ["added_after", "2024-01-02T03:04:05Z"],
      ["limit", "7"],
      ["cursor", "AAEC"],
      ["order_by", "title"],
      ["min_loan", "3.5s"],
      ["max_pages", "0"],
    ]);
    assert.deepEqual(callJson("GET", `/v1/books:search?${query}`), {
      query: "dune",
      genres: ["GENRE_POETRY", "GENRE_FICTION"],
      genre: "GENRE_NON_FICTION",
      isbn: "9007199254740993",
      minCopies: "18446744073709551615",
      availableOnly: true,
      minRating: 4.5,
      tags: ["a", "b c"],
      filter: { minPages: 100, author: { name: "Herbert" } },
      addedAfter: "2024-01-02T03:04:05Z",
      limit: 7,
      cursor: "AAEC",
      orderBy: "title",
      minLoan: "3.500s",
      maxPages: 0,
    });
    assert.deepEqual(callJson("GET", "/v1/products?page_size=10&includeInactive=false&query=tee"), {
      pageSize: 10,
      query: "tee",
    });
  });

  test("wrong types and unknown names are invalid_argument naming the parameter", () => {
    const search = (q: string) => () => call("GET", `/v1/books:search?${q}`);
    assertInvalid(search("page_size=abc"), /query parameter "page_size".*page_size/);
    assertInvalid(search("page_size=99999999999"), /query parameter "page_size"/);
    assertInvalid(search("isbn=1.5"), /query parameter "isbn"/);
    assertInvalid(search("genre=GENRE_NOPE"), /query parameter "genre".*GENRE_NOPE/);
    assertInvalid(search("genres=GENRE_POETRY&genres=9x"), /query parameter "genres"/);
    assertInvalid(search("available_only=yes"), /query parameter "available_only": "yes" is not a bool/);
    assertInvalid(search("added_after=yesterday"), /query parameter "added_after".*Timestamp/);
    assertInvalid(
      search("colour=red"),
      /unknown query parameter "colour".*SearchBooksRequest has no field "colour"/,
    );
    assertInvalid(search("filter.colour=red"), /unknown query parameter "filter.colour".*SearchFilter/);
    assertInvalid(search("query.x=1"), /query parameter "query.x".*not a message field/);
    assertInvalid(search("query=a&query=b"), /query parameter "query" is given 2 times but is not repeated/);
    assertInvalid(search("page_size=1&pageSize=2"), /field page_size is given more than once/);
    assertInvalid(
      search("order_by=a&by_relevance=true"),
      /by_relevance and order_by are members of one oneof/,
    );
    assertInvalid(search("labels=a"), /map field labels cannot be set from the query/);
    assertInvalid(search("authors=a"), /repeated message field authors/);
    assertInvalid(search("filter=a"), /filter is a message; set its fields as filter.<field>/);
  });

  test("fields bound by the path or the body cannot come from the query", () => {
    assertInvalid(
      () => call("GET", "/v1/products/p1?id=p2"),
      /query parameter "id": field id is bound by the URL path/,
    );
    assertInvalid(
      () => call("PATCH", "/v1/shelves/s1/books/b1?book.title=x", {}),
      /query parameter "book.title": field book comes from the request body/,
    );
    assertInvalid(
      () => call("POST", "/v1/payments/p1:refund?reason=x", {}),
      /query parameter "reason": POST .* takes every field from the body, none from the query/,
    );
  });
});

describe("request bodies", () => {
  test("body: a named field is that field's JSON; the path and the query set the rest", () => {
    const body = {
      title: "Dune",
      genre: "GENRE_FICTION",
      isbn: 9780441013593,
      added_at: "2024-01-01T00:00:00Z",
    };
    const before = structuredClone(body);
    assert.deepEqual(
      callJson("PATCH", "/v1/shelves/s1/books/b1?updateMask=title,genre&allow_missing=true", body),
      {
        book: {
          name: "shelves/s1/books/b1",
          title: "Dune",
          genre: "GENRE_FICTION",
          isbn: "9780441013593",
          addedAt: "2024-01-01T00:00:00Z",
        },
        updateMask: "title,genre",
        allowMissing: true,
      },
    );
    assert.deepEqual(body, before, "the caller's body is not modified");
    assert.deepEqual(callJson("PATCH", "/v1/shelves/s1/books/b1"), { book: { name: "shelves/s1/books/b1" } });
  });

  test("a body may repeat a path variable's value but not contradict it", () => {
    assert.deepEqual(callJson("POST", "/v1/payments/pay-1:refund", { payment_id: "pay-1" }), {
      paymentId: "pay-1",
    });
    assertInvalid(
      () => call("POST", "/v1/payments/pay-1:refund", { paymentId: "pay-2" }),
      /field payment_id is bound by the URL path \("pay-1"\) but the body says "pay-2"/,
    );
    assertInvalid(
      () => call("PATCH", "/v1/shelves/s1/books/b1", { name: "shelves/s1/books/b2" }),
      /field book.name is bound by the URL path/,
    );
  });

  test("unknown fields, wrong types and non-objects in the body are invalid_argument naming the field", () => {
    assertInvalid(
      () => call("POST", "/v1/users", { email: "a@b.c", nickname: "x" }),
      /key "nickname" is unknown/,
    );
    assertInvalid(
      () => call("POST", "/v1/orders", { items: [{ quantity: "many" }] }),
      /PlaceOrderItem.quantity/,
    );
    assertInvalid(
      () => call("POST", "/v1/payments/p1:refund", { amount: { amountMinor: 1.5 } }),
      /shop\.v1\.Money\.amount_minor/,
    );
    assertInvalid(
      () => call("PATCH", "/v1/shelves/s1/books/b1", { genre: "GENRE_NOPE" }),
      /Genre.*GENRE_NOPE/,
    );
    assertInvalid(() => call("POST", "/v1/users", [1, 2]), /request body must be a JSON object/);
    assertInvalid(() => call("POST", "/v1/users", "hello"), /request body must be a JSON object/);
    assertInvalid(() => call("GET", "/v1/products/p1", {}), /takes no request body/);
  });
});

describe("response bodies", () => {
  test("the whole response in the proto3 JSON mapping", () => {
    const route = call("GET", "/v1/payments/pay-1").route;
    const response = create(GetPaymentResponseSchema, {
      payment: {
        id: "pay-1",
        amount: { amountMinor: 9007199254740993n, currency: "EUR" },
        status: PaymentStatus.CAPTURED,
        createdAt: timestampFromMs(Date.UTC(2024, 0, 2, 3, 4, 5)),
      },
    });
    assert.deepEqual(restResponse(route, response), {
      payment: {
        id: "pay-1",
        amount: { amountMinor: "9007199254740993", currency: "EUR" },
        status: "PAYMENT_STATUS_CAPTURED",
        createdAt: "2024-01-02T03:04:05Z",
      },
    });
    assert.deepEqual(restResponse(route, response, { useProtoFieldName: true }), {
      payment: {
        id: "pay-1",
        amount: { amount_minor: "9007199254740993", currency: "EUR" },
        status: "PAYMENT_STATUS_CAPTURED",
        created_at: "2024-01-02T03:04:05Z",
      },
    });
  });

  test("response_body sends one field: a message, a list, or their defaults", () => {
    const getBook = call("GET", "/v1/shelves/s1/books/b1").route;
    const book = create(BookSchema, { name: "shelves/s1/books/b1", genre: Genre.POETRY, isbn: 5n });
    assert.deepEqual(restResponse(getBook, create(GetBookResponseSchema, { book })), {
      name: "shelves/s1/books/b1",
      genre: "GENRE_POETRY",
      isbn: "5",
    });
    assert.equal(restResponse(getBook, create(GetBookResponseSchema)), null, "an unset message is null");
    const listBooks = call("GET", "/v1/shelves/s1/books").route;
    const list = create(ListBooksResponseSchema, { books: [book, { name: "n2" }], nextPageToken: "t" });
    assert.deepEqual(restResponse(listBooks, list), [
      { name: "shelves/s1/books/b1", genre: "GENRE_POETRY", isbn: "5" },
      { name: "n2" },
    ]);
    assert.deepEqual(restResponse(listBooks, create(ListBooksResponseSchema)), [], "an empty list is []");
  });
});

describe("contracts that cannot be served are refused when the routes are built", () => {
  const refused: [string, MethodSpec[], RegExp][] = [
    [
      "a streaming method",
      [{ name: "M", rule: get("/v1/x"), serverStreaming: true }],
      /server-streaming method/,
    ],
    [
      "an unknown path field",
      [{ name: "M", rule: get("/v1/{nope}") }],
      /path variable \{nope\}.*has no field "nope"/,
    ],
    [
      "a repeated path field",
      [{ name: "M", rule: get("/v1/{tags}") }],
      /\{tags\} must name a singular scalar/,
    ],
    [
      "a message path field",
      [{ name: "M", rule: get("/v1/{inner}") }],
      /\{inner\} must name a singular scalar/,
    ],
    [
      "an unclosed variable",
      [{ name: "M", rule: get("/v1/{id") }],
      /path template "\/v1\/\{id" has an unclosed/,
    ],
    ["** before the end", [{ name: "M", rule: get("/v1/{id=**}/x") }], /uses "\*\*" before its last segment/],
    ["a relative template", [{ name: "M", rule: get("v1/x") }], /must start with "\/"/],
    ["an empty segment", [{ name: "M", rule: get("/v1//x") }], /has an empty segment/],
    [
      "an unknown body field",
      [{ name: "M", rule: { pattern: { case: "post", value: "/v1/x" }, body: "nope" } }],
      /body "nope" is not a top-level field/,
    ],
    [
      "an unknown response_body",
      [{ name: "M", rule: { ...get("/v1/x"), responseBody: "nope" } }],
      /response_body "nope" is not a top-level field/,
    ],
    [
      "custom method *",
      [{ name: "M", rule: { pattern: { case: "custom", value: { kind: "*", path: "/v1/x" } } } }],
      /custom HTTP method "\*" is not supported/,
    ],
    [
      "nested additional bindings",
      [
        {
          name: "M",
          rule: {
            ...get("/v1/x"),
            additionalBindings: [
              create(HttpRuleSchema, {
                ...get("/v1/y"),
                additionalBindings: [create(HttpRuleSchema, get("/v1/z"))],
              }),
            ],
          },
        },
      ],
      /must not nest additional_bindings/,
    ],
    [
      "two routes of one shape",
      [
        { name: "A", rule: get("/v1/items/{id}") },
        { name: "B", rule: get("/v1/items/{name}") },
      ],
      /GET \/v1\/items\/\{name\} cannot be told apart from test\.v1\.TestService\.A/,
    ],
  ];
  for (const [what, methods, message] of refused) {
    test(what, () => {
      assert.throws(() => restRoutes([testContract(methods)]), message);
    });
  }
});

// A contract built in memory, for annotations no real contract should have.

interface MethodSpec {
  readonly name: string;
  readonly rule: MessageInitShape<typeof HttpRuleSchema>;
  readonly serverStreaming?: boolean;
}

function get(path: string): MessageInitShape<typeof HttpRuleSchema> {
  return { pattern: { case: "get", value: path } };
}

function testContract(methods: readonly MethodSpec[]): DescService {
  const file = create(FileDescriptorProtoSchema, {
    name: "test/v1/test.proto",
    package: "test.v1",
    syntax: "proto3",
    messageType: [
      {
        name: "Req",
        field: [
          { name: "id", number: 1, type: 9, label: 1, jsonName: "id" },
          { name: "tags", number: 2, type: 9, label: 3, jsonName: "tags" },
          { name: "inner", number: 3, type: 11, label: 1, typeName: ".test.v1.Req", jsonName: "inner" },
          { name: "name", number: 4, type: 9, label: 1, jsonName: "name" },
        ],
      },
      { name: "Res" },
    ],
    service: [
      {
        name: "TestService",
        method: methods.map((m) => {
          const options = create(MethodOptionsSchema);
          setExtension(options, http, create(HttpRuleSchema, m.rule));
          return {
            name: m.name,
            inputType: ".test.v1.Req",
            outputType: ".test.v1.Res",
            serverStreaming: m.serverStreaming ?? false,
            options,
          };
        }),
      },
    ],
  });
  const service = createFileRegistry(file, () => undefined).getService("test.v1.TestService");
  assert.ok(service);
  return service;
}
