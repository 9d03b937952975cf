/**
 * Unary Connect calls over NATS against a real nats-server: codecs, metadata, the Connect error
 * model end to end, deadlines enforced on both sides, and bad input that is refused while the
 * actor keeps serving.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { createNatsTransport, implement, type Logger } from "troupe";
import { serveServices } from "troupe/host";
import { rpcMethodSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { GetProductRequestSchema, ProductService } from "../../proto/gen/shop/v1/product_pb.ts";

const TIMEOUT = { timeout: 30_000 };
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const GET_PRODUCT = rpcMethodSubject(ProductService.method.getProduct);

interface Logged {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

describe("unary calls", () => {
  let server: NatsServer;
  let serverNc: NatsConnection;
  let clientNc: NatsConnection;
  const logged: Logged[] = [];
  const logger: Logger = { log: (level, message, fields) => logged.push({ level, message, fields }) };
  const interceptorSaw: string[] = [];
  // Signals of handlers that were aborted, so tests can await server-side deadline enforcement.
  const aborted = new Map<string, Promise<unknown>>();
  let bigReplyBytes = 0;

  const serverInterceptor: Interceptor = (next) => async (req) => {
    interceptorSaw.push(`server:${req.method.name}`);
    return next(req);
  };

  before(async () => {
    server = await startNatsServer({ maxPayloadBytes: 64 * 1024 });
    serverNc = await connect({ servers: server.url });
    clientNc = await connect({ servers: server.url });
    await serveServices(
      serverNc,
      [
        implement(ProductService, {
          getProduct(req, ctx) {
            switch (req.id) {
              case "missing":
                throw new ConnectError(`product ${req.id} does not exist`, Code.NotFound, undefined, [
                  { desc: GetProductRequestSchema, value: { id: req.id } },
                ]);
              case "crash":
                throw new Error("database password is hunter2");
              case "slow": {
                const signal = ctx.signal;
                aborted.set(
                  ctx.requestHeader.get("x-test-id") ?? "",
                  new Promise((resolve) => signal.addEventListener("abort", () => resolve(signal.reason))),
                );
                return new Promise(() => {}); // never answers by itself
              }
              case "big":
                return { product: { id: req.id, description: "x".repeat(bigReplyBytes) } };
              case "echo-metadata":
                ctx.responseHeader.set("x-served-by", "test-host");
                ctx.responseTrailer.set("x-rows", "1");
                return { product: { id: req.id, name: ctx.requestHeader.get("x-tenant") ?? "" } };
              default:
                return { product: { id: req.id, name: `Product ${req.id}` } };
            }
          },
        }),
      ],
      { name: "product", logger, interceptors: [serverInterceptor] },
    );
  });

  after(async () => {
    await clientNc?.close();
    await serverNc?.close();
    await server?.dispose();
  });

  test("a generated client calls a method over NATS (binary protobuf)", TIMEOUT, async () => {
    const client = createClient(ProductService, createNatsTransport({ nc: clientNc }));
    const res = await client.getProduct({ id: "p1" });
    assert.equal(res.product?.name, "Product p1");
    assert.ok(interceptorSaw.includes("server:GetProduct"), "the host's interceptor ran");
  });

  test("the JSON codec gives the same answer", TIMEOUT, async () => {
    const client = createClient(ProductService, createNatsTransport({ nc: clientNc, codec: "json" }));
    const res = await client.getProduct({ id: "p2" });
    assert.equal(res.product?.name, "Product p2");
  });

  test(
    "a raw JSON request without a content type (what `nats req` sends) is answered in JSON",
    TIMEOUT,
    async () => {
      const reply = await clientNc.request(GET_PRODUCT, encoder.encode('{"id":"p3"}'), { timeout: 5_000 });
      assert.equal(reply.headers?.get("content-type"), "application/json");
      assert.deepEqual(JSON.parse(decoder.decode(reply.data)), { product: { id: "p3", name: "Product p3" } });
    },
  );

  test(
    "request headers reach the handler; response headers and trailers reach the caller",
    TIMEOUT,
    async () => {
      const client = createClient(ProductService, createNatsTransport({ nc: clientNc }));
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const res = await client.getProduct(
        { id: "echo-metadata" },
        { headers: { "x-tenant": "acme" }, onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
      );
      assert.equal(res.product?.name, "acme");
      assert.equal(header?.get("x-served-by"), "test-host");
      assert.equal(trailer?.get("x-rows"), "1");
      assert.equal(header?.get("x-rows"), null, "trailers are not headers");
    },
  );

  test("client interceptors run", TIMEOUT, async () => {
    const seen: string[] = [];
    const interceptor: Interceptor = (next) => async (req) => {
      req.header.set("x-tenant", "from-interceptor");
      const res = await next(req);
      seen.push(`${req.method.name}:${res.stream ? "stream" : res.message.$typeName}`);
      return res;
    };
    const client = createClient(
      ProductService,
      createNatsTransport({ nc: clientNc, interceptors: [interceptor] }),
    );
    const res = await client.getProduct({ id: "echo-metadata" });
    assert.equal(res.product?.name, "from-interceptor");
    assert.deepEqual(seen, ["GetProduct:shop.v1.GetProductResponse"]);
  });

  test(
    "a ConnectError keeps its code, message and details; micro error headers are set",
    TIMEOUT,
    async () => {
      const client = createClient(ProductService, createNatsTransport({ nc: clientNc }));
      const err = await client.getProduct({ id: "missing" }).then(
        () => assert.fail("expected an error"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.NotFound);
      assert.equal(err.rawMessage, "product missing does not exist");
      const [detail] = err.findDetails(GetProductRequestSchema);
      assert.equal(detail?.id, "missing");

      const raw = await clientNc.request(
        GET_PRODUCT,
        toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { id: "missing" })),
      );
      assert.equal(raw.headers?.get("Nats-Service-Error-Code"), "404");
      assert.equal(raw.headers?.get("Nats-Service-Error"), "product missing does not exist");
      assert.equal(JSON.parse(decoder.decode(raw.data)).code, "not_found");
    },
  );

  test(
    "a thrown non-Connect error is `internal` with a generic message, logged with its stack",
    TIMEOUT,
    async () => {
      const client = createClient(ProductService, createNatsTransport({ nc: clientNc }));
      const err = await client.getProduct({ id: "crash" }).then(
        () => assert.fail("expected an error"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.Internal);
      assert.doesNotMatch(err.message, /hunter2/);
      const entry = logged.find((l) => String(l.fields?.error).includes("hunter2"));
      assert.ok(entry, "the original error is logged on the actor");
      assert.equal(entry.level, "error");
      assert.match(String(entry.fields?.stack), /at /);
    },
  );

  test("no responders is `unavailable` at once, not a timeout", TIMEOUT, async () => {
    const client = createClient(
      ProductService,
      createNatsTransport({ nc: clientNc, namespace: "nobody-home" }),
    );
    const started = performance.now();
    const err = await client.getProduct({ id: "p1" }, { timeoutMs: 10_000 }).then(
      () => assert.fail("expected an error"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(err.code, Code.Unavailable);
    assert.ok(performance.now() - started < 2_000, "answered by the server's no-responders status");
  });

  test(
    "a deadline expires as `deadline_exceeded`, and the server aborts the handler too",
    TIMEOUT,
    async () => {
      const client = createClient(ProductService, createNatsTransport({ nc: clientNc }));
      const err = await client
        .getProduct({ id: "slow" }, { timeoutMs: 200, headers: { "x-test-id": "deadline" } })
        .then(
          () => assert.fail("expected an error"),
          (e: unknown) => ConnectError.from(e),
        );
      assert.equal(err.code, Code.DeadlineExceeded);
      const reason = ConnectError.from(await aborted.get("deadline"));
      assert.equal(reason.code, Code.DeadlineExceeded, "the handler's signal fired with the deadline");
    },
  );

  test("an aborted call is `canceled` at once", TIMEOUT, async () => {
    const client = createClient(ProductService, createNatsTransport({ nc: clientNc }));
    const controller = new AbortController();
    const call = client.getProduct(
      { id: "slow" },
      { signal: controller.signal, timeoutMs: 10_000, headers: { "x-test-id": "abort" } },
    );
    const started = performance.now();
    controller.abort();
    const err = await call.then(
      () => assert.fail("expected an error"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(err.code, Code.Canceled);
    assert.ok(performance.now() - started < 1_000, "not after the 10 s deadline");
  });

  test("an unknown method subject is `unimplemented`", TIMEOUT, async () => {
    const raw = await clientNc.request(`${GET_PRODUCT}Nope`, encoder.encode("{}"));
    assert.equal(raw.headers?.get("Nats-Service-Error-Code"), "501");
    const body = JSON.parse(decoder.decode(raw.data));
    assert.equal(body.code, "unimplemented");
    assert.match(body.message, /shop\.v1\.ProductService has no method "GetProductNope"/);
  });

  test("malformed input is `invalid_argument` with a clear message", TIMEOUT, async () => {
    const cases: [string, Uint8Array, string | undefined, RegExp][] = [
      [
        "garbage bytes",
        new Uint8Array([0xff, 0xff, 0xff, 0xff]),
        undefined,
        /cannot decode shop\.v1\.GetProductRequest from binary/,
      ],
      [
        "truncated protobuf",
        toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { id: "abcdef" })).slice(0, 4),
        undefined,
        /cannot decode/,
      ],
      ["wrong JSON", encoder.encode('{"id": 42, '), "application/json", /from JSON/],
      ["JSON with an unknown field", encoder.encode('{"idd":"x"}'), "application/json", /from JSON/],
      [
        "a wrong content type",
        encoder.encode("id=1"),
        "text/plain",
        /unsupported content type "text\/plain"/,
      ],
    ];
    for (const [what, body, contentType, pattern] of cases) {
      const hdrs = headers();
      if (contentType !== undefined) hdrs.set("content-type", contentType);
      const raw = await clientNc.request(GET_PRODUCT, body, { headers: hdrs, timeout: 5_000 });
      assert.equal(raw.headers?.get("Nats-Service-Error-Code"), "400", what);
      const error = JSON.parse(decoder.decode(raw.data));
      assert.equal(error.code, "invalid_argument", what);
      assert.match(error.message, pattern, what);
    }
  });

  test(
    "oversize messages are `resource_exhausted` naming the limit, in either direction",
    TIMEOUT,
    async () => {
      const client = createClient(ProductService, createNatsTransport({ nc: clientNc }));
      const tooBig = await client.getProduct({ id: "x".repeat(70 * 1024) }).then(
        () => assert.fail("expected an error"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(tooBig.code, Code.ResourceExhausted);
      assert.match(tooBig.message, /max_payload of 65536 bytes/);

      bigReplyBytes = 70 * 1024;
      const replyTooBig = await client.getProduct({ id: "big" }).then(
        () => assert.fail("expected an error"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(replyTooBig.code, Code.ResourceExhausted);
      assert.match(replyTooBig.message, /reply .* exceeds the NATS server's max_payload of 65536 bytes/);
    },
  );

  test("thousands of random payloads later, the actor still answers", { timeout: 60_000 }, async () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const subjects = ProductService.methods.map((m) => rpcMethodSubject(m));
    const contentTypes = [
      undefined,
      "application/json",
      "application/proto",
      "text/plain",
      "application/json; charset=utf-8",
    ];
    const replies: Promise<unknown>[] = [];
    for (let i = 0; i < 4000; i++) {
      const body = new Uint8Array(random() % 300);
      for (let j = 0; j < body.length; j++) body[j] = random() & 0xff;
      if (i % 5 === 0 && body.length >= 6) body.set(encoder.encode('{"id":'), 0);
      const hdrs = headers();
      const contentType = contentTypes[random() % contentTypes.length];
      if (contentType !== undefined) hdrs.set("content-type", contentType);
      if (i % 7 === 0) hdrs.set("connect-timeout-ms", String(random() % 3 === 0 ? "not-a-number" : 50));
      const subject = subjects[random() % subjects.length] as string;
      replies.push(
        // Generous: all 4,000 go out at once and the last waits for the others on a busy machine;
        // the test is about every payload being answered, not how fast.
        clientNc.request(subject, body, { headers: hdrs, timeout: 30_000 }).then(
          (r) => r.headers?.get("Nats-Service-Error-Code") ?? "ok",
          (e: unknown) => `request failed: ${String(e)}`,
        ),
      );
    }
    const outcomes = await Promise.all(replies);
    assert.equal(
      outcomes.filter((o) => String(o).startsWith("request failed")).length,
      0,
      "every payload was answered",
    );
    assert.ok(
      outcomes.some((o) => o === "400"),
      "garbage was refused as invalid_argument",
    );
    const client = createClient(ProductService, createNatsTransport({ nc: clientNc }));
    assert.equal((await client.getProduct({ id: "after" })).product?.name, "Product after");
  });
});

describe("permissions", () => {
  test("a permissions violation is `permission_denied`", TIMEOUT, async () => {
    await using server = await startNatsServer({
      config: `
authorization {
  users = [
    { user: "actor", password: "actor" }
    { user: "caller", password: "caller", permissions: { publish: { deny: ["${GET_PRODUCT}"] } } }
  ]
}`,
    });
    const actorNc = await connect({ servers: server.url, user: "actor", pass: "actor" });
    const callerNc = await connect({ servers: server.url, user: "caller", pass: "caller" });
    try {
      await serveServices(
        actorNc,
        [implement(ProductService, { getProduct: (req) => ({ product: { id: req.id } }) })],
        {
          name: "product",
        },
      );
      const client = createClient(ProductService, createNatsTransport({ nc: callerNc }));
      const err = await client.getProduct({ id: "p1" }, { timeoutMs: 5_000 }).then(
        () => assert.fail("expected an error"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.PermissionDenied);
      assert.match(err.message, /not permitted to publish to rpc\.shop\.v1\.ProductService\.GetProduct/);
    } finally {
      await callerNc.close();
      await actorNc.close();
    }
  });
});
