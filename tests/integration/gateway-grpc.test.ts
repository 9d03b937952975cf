/**
 * Native gRPC through the gateway with a client Troupe did not write: @grpc/grpc-js over h2c,
 * its stubs made by @grpc/proto-loader from the `.proto` files themselves (proto/ is the include
 * root). Unary and server-streaming calls reach the real product and user actors; the gateway's
 * refusals arrive as gRPC status codes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Header } from "troupe/protocol";
import { type GatewayFixture, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 30_000 };

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
interface ProductStub extends grpc.Client {
  getProduct(
    req: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    cb: Callback<{ product: { id: string; name: string } }>,
  ): void;
  watchProducts(
    req: object,
    metadata?: grpc.Metadata,
  ): grpc.ClientReadableStream<{ kind: string; product: { id: string } }>;
  lookupProducts(metadata?: grpc.Metadata): grpc.ClientDuplexStream<object, object>;
}
interface UserStub extends grpc.Client {
  registerUser(req: object, metadata: grpc.Metadata, cb: Callback<{ user: { id: string } }>): void;
  getUser(req: object, metadata: grpc.Metadata, cb: Callback<{ user: { id: string } }>): void;
}
interface InventoryStub extends grpc.Client {
  getStock(req: object, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback<unknown>): void;
}

function loadStubs(address: string) {
  const definition = protoLoader.loadSync(
    ["shop/v1/product.proto", "shop/v1/user.proto", "shop/v1/inventory.proto"],
    {
      includeDirs: ["proto", "runtime/proto"],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
    },
  );
  const shop = (
    grpc.loadPackageDefinition(definition) as unknown as {
      shop: { v1: Record<string, grpc.ServiceClientConstructor> };
    }
  ).shop.v1;
  const credentials = grpc.credentials.createInsecure();
  const make = <T>(name: string) =>
    new (shop[name] as grpc.ServiceClientConstructor)(address, credentials) as unknown as T;
  return {
    products: make<ProductStub>("ProductService"),
    users: make<UserStub>("UserService"),
    inventory: make<InventoryStub>("InventoryService"),
  };
}

function call<T>(fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));
}

async function statusOf(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  assert.fail("expected the call to fail");
}

describe("gateway: native gRPC with grpc-js", () => {
  let fx: GatewayFixture;
  let stubs: ReturnType<typeof loadStubs>;
  before(async () => {
    fx = await startGatewayFixture();
    stubs = loadStubs(fx.url.replace("http://", ""));
  });
  after(async () => {
    for (const stub of Object.values(stubs ?? {})) stub.close();
    await fx?.close();
  });

  test("unary: a public method answers; errors are gRPC statuses", TIMEOUT, async () => {
    const res = await call<{ product: { id: string; name: string } }>((cb) =>
      stubs.products.getProduct({ id: "p-1001" }, new grpc.Metadata(), {}, cb),
    );
    assert.equal(res.product.id, "p-1001");
    assert.ok(res.product.name.length > 0);

    const missing = await statusOf(
      call((cb) => stubs.products.getProduct({ id: "nope" }, new grpc.Metadata(), {}, cb)),
    );
    assert.equal(missing.code, grpc.status.NOT_FOUND);

    const slow = await statusOf(
      call((cb) =>
        stubs.inventory.getStock(
          { productId: "slow" },
          new grpc.Metadata(),
          { deadline: Date.now() + 300 },
          cb,
        ),
      ),
    );
    assert.equal(slow.code, grpc.status.DEADLINE_EXCEEDED);

    const boom = await statusOf(
      call((cb) => stubs.inventory.getStock({ productId: "boom" }, new grpc.Metadata(), {}, cb)),
    );
    assert.equal(boom.code, grpc.status.INTERNAL);
    assert.doesNotMatch(boom.details, /10\.1\.2\.3|password/);
  });

  test("server streaming: WatchProducts sends a snapshot per product", TIMEOUT, async () => {
    const stream = stubs.products.watchProducts({ ids: ["p-1001", "p-1003"] });
    const seen: [string, string][] = [];
    for await (const change of stream) {
      seen.push([change.kind, change.product.id]);
      if (seen.length === 2) break;
    }
    stream.cancel();
    assert.deepEqual(seen, [
      ["PRODUCT_CHANGE_KIND_SNAPSHOT", "p-1001"],
      ["PRODUCT_CHANGE_KIND_SNAPSHOT", "p-1003"],
    ]);
  });

  test("authentication and private methods", TIMEOUT, async () => {
    const { user } = await call<{ user: { id: string } }>((cb) =>
      stubs.users.registerUser(
        { idempotencyKey: "grpc-1", email: "grpc@example.com", displayName: "G" },
        new grpc.Metadata(),
        cb,
      ),
    );
    const anonymous = await statusOf(
      call((cb) => stubs.users.getUser({ id: user.id }, new grpc.Metadata(), cb)),
    );
    assert.equal(anonymous.code, grpc.status.UNAUTHENTICATED);
    assert.match(anonymous.details, /requires authentication/);

    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${await fx.token("bob")}`);
    metadata.set(Header.authSubject, "mallory");
    const seen = fx.userCallHeaders.length;
    const got = await call<{ user: { id: string } }>((cb) =>
      stubs.users.getUser({ id: user.id }, metadata, cb),
    );
    assert.equal(got.user.id, user.id);
    assert.equal(fx.userCallHeaders[seen]?.get(Header.authSubject), "bob");

    const lookup = stubs.products.lookupProducts();
    const refused = await new Promise<grpc.ServiceError>((resolve) => {
      lookup.on("error", resolve);
      lookup.on("data", () => {});
      lookup.write({ id: "p-1001" });
      lookup.end();
    });
    assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
    assert.match(refused.details, /LookupProducts is not public/);
  });

  test("gRPC calls count against the rate limit and the size limit too", TIMEOUT, async () => {
    const limited = await fx.extraGateway({ rateLimit: { perSecond: 1, burst: 3 }, bodyLimitBytes: 1024 });
    const { products } = loadStubs(limited.url.replace("http://", ""));
    try {
      const big = await statusOf(
        call((cb) => products.getProduct({ id: "x".repeat(4096) }, new grpc.Metadata(), {}, cb)),
      );
      assert.equal(big.code, grpc.status.RESOURCE_EXHAUSTED);
      // The oversize call counted (the limit is taken before a body is read): 2 of the burst of 3 are left.
      for (let i = 0; i < 2; i++) {
        await call((cb) => products.getProduct({ id: "p-1001" }, new grpc.Metadata(), {}, cb));
      }
      const flood = await statusOf(
        call((cb) => products.getProduct({ id: "p-1001" }, new grpc.Metadata(), {}, cb)),
      );
      assert.equal(flood.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(flood.details, /too many requests/);
      assert.ok(Number(flood.metadata.get("retry-after")[0]) >= 1, "Retry-After on gRPC too");
    } finally {
      products.close();
    }
  });
});
