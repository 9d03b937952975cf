/**
 * The mission's first scenario: the user actor calls the product actor for product details
 * (a recently-viewed list). Both actors are served in-process with `serveActor`, each on its own
 * connection to a real nats-server, and called the way other actors and the gateway call them:
 * typed Connect clients over NATS, in binary protobuf and in Connect JSON. Their state is in
 * JetStream KV: two product instances share one catalogue, and user data outlives a restart of
 * the server.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, equals } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, createNatsTransport, type RunningActor, serveActor, silentLogger } from "troupe";
import { serviceStats } from "troupe/discovery";
import { rpcMethodSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { productActor } from "../../actors/product/actor.ts";
import { type Catalog, openCatalog } from "../../actors/product/catalog.ts";
import { userActor } from "../../actors/user/actor.ts";
import { MoneySchema } from "../../proto/gen/shop/v1/money_pb.ts";
import {
  type LookupProductsResponse,
  type Product,
  ProductChangeKind,
  ProductSchema,
  ProductService,
} from "../../proto/gen/shop/v1/product_pb.ts";
import { UserSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { storesOn, withHooks } from "../support/actor-hooks.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { slowed } from "../support/slowed-services.ts";

const TIMEOUT = { timeout: 30_000 };

/** A unary call as the product actor's host saw it (a server-side interceptor records them). */
interface ServedCall {
  readonly method: string;
  readonly id: string;
  /** The Connect code name the call ended with, "ok" on success. */
  readonly outcome: string;
}

/** Records every unary call an actor serves; tests await the one they caused. */
function callRecorder() {
  const calls: ServedCall[] = [];
  const waiters = new Set<{ match: (call: ServedCall) => boolean; resolve: (call: ServedCall) => void }>();
  const record = (call: ServedCall) => {
    calls.push(call);
    for (const waiter of [...waiters]) {
      if (!waiter.match(call)) continue;
      waiters.delete(waiter);
      waiter.resolve(call);
    }
  };
  const interceptor: Interceptor = (next) => async (req) => {
    if (req.stream) return next(req);
    const base = { method: req.method.name, id: String((req.message as { id?: unknown }).id ?? "") };
    try {
      const res = await next(req);
      record({ ...base, outcome: "ok" });
      return res;
    } catch (err) {
      record({ ...base, outcome: Code[ConnectError.from(err).code] ?? "unknown" });
      throw err;
    }
  };
  return {
    interceptor,
    calls,
    /** The first call (already served or still to come) that matches. */
    next(match: (call: ServedCall) => boolean): Promise<ServedCall> {
      const seen = calls.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.add({ match, resolve }));
    },
  };
}

/** An async iterable fed by hand: a stream's requests, sent one by one as the test decides. */
function pushable<T>(): AsyncIterable<T> & { push(value: T): void; end(): void } {
  const queue: IteratorResult<T, undefined>[] = [];
  let wake: (() => void) | undefined;
  const put = (result: IteratorResult<T, undefined>) => {
    queue.push(result);
    wake?.();
  };
  return {
    push: (value) => put({ done: false, value }),
    end: () => put({ done: true, value: undefined }),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        if (next.done === true) return;
        yield next.value;
      }
    },
  };
}

describe("user and product actors", () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];
  let catalog: Catalog;
  const productCalls = callRecorder();
  let users: Client<typeof UserService>;
  let products: Client<typeof ProductService>;
  let jsonUsers: Client<typeof UserService>;
  let jsonProducts: Client<typeof ProductService>;

  const connection = async () => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };

  before(async () => {
    server = await startNatsServer();
    actors.push(
      await serveActor(
        await connection(),
        withHooks(productActor, {
          setup: (opened) => {
            catalog = opened;
          },
        }),
        {
          logger: silentLogger,
          interceptors: [productCalls.interceptor],
        },
      ),
      await serveActor(await connection(), userActor, { logger: silentLogger }),
    );
    const clientNc = await connection();
    users = createClient(UserService, createNatsTransport({ nc: clientNc }));
    products = createClient(ProductService, createNatsTransport({ nc: clientNc }));
    jsonUsers = createClient(UserService, createNatsTransport({ nc: clientNc, codec: "json" }));
    jsonProducts = createClient(ProductService, createNatsTransport({ nc: clientNc, codec: "json" }));
  });

  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  let registrations = 0;
  const registerUser = async (client: Client<typeof UserService> = users) => {
    const n = ++registrations;
    const { user } = await client.registerUser({
      idempotencyKey: `key-${n}`,
      email: `Shopper.${n}@Example.com `,
      displayName: ` Shopper ${n} `,
    });
    assert.ok(user);
    return user;
  };

  for (const [codec, clients] of [
    ["binary protobuf", () => ({ users, products })],
    ["Connect JSON", () => ({ users: jsonUsers, products: jsonProducts })],
  ] as const) {
    test(
      `recently viewed products come from the product actor, most recent first (${codec})`,
      TIMEOUT,
      async () => {
        const { users, products } = clients();
        const user = await registerUser(users);
        const viewed = ["p-1003", "p-1001", "p-1007", "p-1003"];
        const times: number[] = [];
        for (const [i, productId] of viewed.entries()) {
          const { viewedAt } = await users.recordProductView({
            viewId: `${user.id}-v${i}`,
            userId: user.id,
            productId,
          });
          assert.ok(viewedAt, "a recorded view has a time");
          times.push(timestampMs(viewedAt));
        }

        const { products: recent } = await users.listRecentlyViewed({ userId: user.id });
        assert.deepEqual(
          recent.map((entry) => entry.product?.id),
          ["p-1003", "p-1007", "p-1001"],
          "most recent first, each product once",
        );
        // The details are the product actor's, in full.
        for (const entry of recent) {
          const { product } = await products.getProduct({ id: entry.product?.id ?? "" });
          assert.ok(product && entry.product);
          assert.ok(equals(ProductSchema, entry.product, product), `details of ${product.id}`);
          assert.ok(product.name !== "" && product.price !== undefined, "details are filled in");
        }
        // Each product carries the time of its latest view.
        assert.deepEqual(
          recent.map((entry) => timestampMs(entry.viewedAt ?? assert.fail("viewedAt is set"))),
          [times[3], times[2], times[1]],
        );

        const { products: firstTwo } = await users.listRecentlyViewed({ userId: user.id, pageSize: 2 });
        assert.deepEqual(
          firstTwo.map((entry) => entry.product?.id),
          ["p-1003", "p-1007"],
        );
      },
    );

    test(`an unknown product is not_found, from the nested call (${codec})`, TIMEOUT, async () => {
      const { users } = clients();
      const user = await registerUser(users);
      const productId = `p-missing-${codec.length}`;
      const error = await connectErrorOf(
        users.recordProductView({ viewId: `${user.id}-missing`, userId: user.id, productId }),
      );
      assert.equal(error.code, Code.NotFound);
      assert.match(error.rawMessage, new RegExp(`product "${productId}" not found`));
      assert.deepEqual(
        await productCalls.next((call) => call.id === productId),
        { method: "GetProduct", id: productId, outcome: "NotFound" },
        "the product actor was asked and answered not_found",
      );
      const { products: recent } = await users.listRecentlyViewed({ userId: user.id });
      assert.deepEqual(recent, [], "a failed view is not recorded");
    });

    test(`a bad page token is invalid_argument (${codec})`, TIMEOUT, async () => {
      const { products } = clients();
      for (const pageToken of ["not-a-token", "eyJ2IjoxfQ", "%%%"]) {
        const error = await connectErrorOf(products.listProducts({ pageToken }));
        assert.equal(error.code, Code.InvalidArgument, `page_token ${pageToken}`);
        assert.match(error.rawMessage, /page_token/);
      }
    });
  }

  test("ListProducts pages through the active catalogue in id order", TIMEOUT, async () => {
    const seen: Product[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await products.listProducts({ pageSize: 5, pageToken });
      assert.ok(page.products.length <= 5);
      seen.push(...page.products);
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "" && pages < 10);
    const ids = seen.map((p) => p.id);
    assert.equal(pages, 3);
    assert.deepEqual(ids, [...ids].sort(), "ordered by id");
    assert.equal(new Set(ids).size, ids.length, "no product twice");
    assert.equal(ids.length, 11, "the eleven active products");
    assert.ok(
      seen.every((p) => p.active),
      "only active products by default",
    );

    const all = await products.listProducts({ pageSize: 100, includeInactive: true });
    assert.equal(all.products.length, 12);
    assert.equal(all.nextPageToken, "");

    const tees = await products.listProducts({ query: "t-shirt", pageSize: 1 });
    assert.deepEqual(
      tees.products.map((p) => p.id),
      ["p-1001"],
    );
    const error = await connectErrorOf(
      products.listProducts({ pageToken: tees.nextPageToken, query: "boots" }),
    );
    assert.equal(error.code, Code.InvalidArgument, "a token is only good for the query it was issued for");
    const second = await products.listProducts({
      query: "T-SHIRT",
      pageSize: 1,
      pageToken: tees.nextPageToken,
    });
    assert.deepEqual(
      second.products.map((p) => p.id),
      ["p-1002"],
    );

    const negative = await connectErrorOf(products.listProducts({ pageSize: -1 }));
    assert.equal(negative.code, Code.InvalidArgument);
  });

  test("GetProduct answers not_found and invalid_argument; $SRV.STATS counts both", TIMEOUT, async () => {
    const statsOf = async () => {
      const [stats] = await serviceStats(connections[0] as NatsConnection, { name: "product" });
      const endpoint = stats?.endpoints.find(
        (e) => e.subject === rpcMethodSubject(ProductService.method.getProduct),
      );
      assert.ok(endpoint, "GetProduct is an endpoint of the product actor");
      return endpoint;
    };
    const before = await statsOf();
    assert.equal((await connectErrorOf(products.getProduct({ id: "p-0000" }))).code, Code.NotFound);
    assert.equal((await connectErrorOf(products.getProduct({ id: "" }))).code, Code.InvalidArgument);
    const after = await statsOf();
    assert.equal(after.num_requests - before.num_requests, 2);
    assert.equal(after.num_errors - before.num_errors, 2);
    assert.match(after.last_error, /invalid_argument/);
  });

  test("RegisterUser is idempotent and keeps emails unique", TIMEOUT, async () => {
    const request = { idempotencyKey: "register-once", email: " Ada@Example.org", displayName: "Ada" };
    const { user } = await users.registerUser(request);
    assert.ok(user);
    assert.equal(user.email, "ada@example.org", "normalised email");
    const retry = await users.registerUser(request);
    assert.ok(retry.user);
    assert.equal(retry.user.id, user.id, "a retry returns the same user");

    const taken = await connectErrorOf(
      users.registerUser({
        idempotencyKey: "register-twice",
        email: "ADA@example.org",
        displayName: "Ada 2",
      }),
    );
    assert.equal(taken.code, Code.AlreadyExists);

    const { user: fetched } = await users.getUser({ id: user.id });
    assert.equal(fetched?.displayName, "Ada");
    assert.equal((await connectErrorOf(users.getUser({ id: "u-nobody" }))).code, Code.NotFound);

    for (const bad of [
      { idempotencyKey: "", email: "x@example.org", displayName: "X" },
      { idempotencyKey: "k1", email: "not-an-email", displayName: "X" },
      { idempotencyKey: "k2", email: "x@example.org", displayName: "   " },
      { idempotencyKey: "k3", email: "x@example.org", displayName: "x".repeat(101) },
    ]) {
      const error = await connectErrorOf(users.registerUser(bad));
      assert.equal(error.code, Code.InvalidArgument, JSON.stringify(bad));
    }
  });

  test("a retried view is recorded once; a reused view id is refused", TIMEOUT, async () => {
    const user = await registerUser();
    const first = await users.recordProductView({ viewId: "view-a", userId: user.id, productId: "p-1005" });
    await users.recordProductView({ viewId: "view-b", userId: user.id, productId: "p-1006" });
    const retry = await users.recordProductView({ viewId: "view-a", userId: user.id, productId: "p-1005" });
    assert.deepEqual(retry.viewedAt, first.viewedAt, "the retry answers like the first call");
    const { products: recent } = await users.listRecentlyViewed({ userId: user.id });
    assert.deepEqual(
      recent.map((entry) => entry.product?.id),
      ["p-1006", "p-1005"],
      "the retry did not move p-1005 to the front",
    );

    const reused = await connectErrorOf(
      users.recordProductView({ viewId: "view-a", userId: user.id, productId: "p-1006" }),
    );
    assert.equal(reused.code, Code.AlreadyExists);
  });

  test("views of unknown users and bad requests are refused", TIMEOUT, async () => {
    const user = await registerUser();
    // One call at a time: a call made early could fail before anything awaits it.
    const cases: [() => Promise<unknown>, Code][] = [
      [
        () => users.recordProductView({ viewId: "v-x", userId: "u-nobody", productId: "p-1001" }),
        Code.NotFound,
      ],
      [() => users.listRecentlyViewed({ userId: "u-nobody" }), Code.NotFound],
      [
        () => users.recordProductView({ viewId: "", userId: user.id, productId: "p-1001" }),
        Code.InvalidArgument,
      ],
      [
        () => users.recordProductView({ viewId: "v-y", userId: user.id, productId: "" }),
        Code.InvalidArgument,
      ],
      [() => users.listRecentlyViewed({ userId: user.id, pageSize: -1 }), Code.InvalidArgument],
      [() => users.listRecentlyViewed({ userId: "" }), Code.InvalidArgument],
    ];
    for (const [call, code] of cases) assert.equal((await connectErrorOf(call())).code, code);
  });

  test("WatchProducts sends snapshots, then changes as they happen, until cancelled", TIMEOUT, async () => {
    let subscribed = 0;
    let unsubscribed!: () => void;
    const feedClosed = new Promise<void>((resolve) => {
      unsubscribed = resolve;
    });
    const changes = catalog.changes;
    catalog.changes = (ids, signal) => {
      subscribed++;
      const followed = changes(ids, signal);
      return (async function* () {
        try {
          yield* followed;
        } finally {
          unsubscribed();
        }
      })();
    };
    try {
      const abort = new AbortController();
      const stream = products
        .watchProducts(
          { ids: ["p-1008", "p-unknown", "p-1009", "p-1008"] },
          { signal: abort.signal, timeoutMs: 20_000 },
        )
        [Symbol.asyncIterator]();
      const received = async () => {
        const next = await stream.next();
        assert.equal(next.done, false, "the stream goes on");
        return next.value;
      };
      const snapshots = [await received(), await received()];
      assert.deepEqual(
        snapshots.map((m) => [m.kind, m.product?.id]),
        [
          [ProductChangeKind.SNAPSHOT, "p-1008"],
          [ProductChangeKind.SNAPSHOT, "p-1009"],
        ],
        "one snapshot per known product, in request order",
      );
      assert.equal(subscribed, 1, "the stream follows the catalogue");

      await catalog.setPrice("p-1008", create(MoneySchema, { amountMinor: 2490n, currency: "EUR" }));
      await catalog.setPrice("p-1001", create(MoneySchema, { amountMinor: 1n, currency: "EUR" })); // not watched
      await catalog.setAvailable("p-1009", 12n);
      await catalog.withdraw("p-1009");
      const changes = [await received(), await received(), await received()];
      assert.deepEqual(
        changes.map((m) => [m.kind, m.product?.id]),
        [
          [ProductChangeKind.PRICE, "p-1008"],
          [ProductChangeKind.STOCK, "p-1009"],
          [ProductChangeKind.WITHDRAWN, "p-1009"],
        ],
      );
      assert.equal(changes[0]?.product?.price?.amountMinor, 2490n);
      assert.equal(changes[1]?.product?.available, 12n);
      assert.equal(changes[2]?.product?.active, false);

      abort.abort();
      await assert.rejects(stream.next(), (err) => ConnectError.from(err).code === Code.Canceled);
      await feedClosed; // the server's handler saw the cancellation and let go of the catalogue
    } finally {
      catalog.changes = changes;
    }
  });

  test("WatchProducts refuses a request without ids", TIMEOUT, async () => {
    const error = await connectErrorOf(
      (async () => {
        for await (const _ of products.watchProducts({ ids: [] })) assert.fail("no message expected");
      })(),
    );
    assert.equal(error.code, Code.InvalidArgument);
  });

  test(
    "two product instances share the catalogue: a change through one reaches a watcher on the other",
    TIMEOUT,
    async () => {
      // Instance B opens the same catalogue bucket as A but serves in its own namespace, so that
      // this test can call B and not A.
      let catalogB: Catalog | undefined;
      actors.push(
        await serveActor(
          await connection(),
          withHooks(productActor, {
            // The bucket without B's namespace: A's.
            context: (ctx) => ({ ...ctx, state: storesOn(ctx.nc).state }),
            setup: (opened) => {
              catalogB = opened;
            },
          }),
          { namespace: "b", logger: silentLogger },
        ),
      );
      const productsB = createClient(
        ProductService,
        createNatsTransport({ nc: await connection(), namespace: "b" }),
      );
      const abort = new AbortController();
      const stream = productsB
        .watchProducts({ ids: ["p-1002"] }, { signal: abort.signal, timeoutMs: 20_000 })
        [Symbol.asyncIterator]();
      const snapshot = await stream.next();
      assert.deepEqual(
        [snapshot.value?.kind, snapshot.value?.product?.price?.amountMinor],
        [ProductChangeKind.SNAPSHOT, 2490n],
      );

      const changed = await catalog.setPrice(
        "p-1002",
        create(MoneySchema, { amountMinor: 1990n, currency: "EUR" }),
      );
      const next = await stream.next();
      assert.equal(next.done, false);
      assert.equal(next.value.kind, ProductChangeKind.PRICE, "B's watcher saw A's change");
      assert.ok(
        next.value.product && equals(ProductSchema, next.value.product, changed),
        "the product as A wrote it",
      );
      assert.deepEqual(next.value.changedAt, changed.updatedAt);
      assert.equal(catalogB?.get("p-1002")?.price?.amountMinor, 1990n);
      const { product } = await productsB.getProduct({ id: "p-1002" });
      assert.equal(product?.price?.amountMinor, 1990n, "B answers reads with the new price");

      abort.abort();
      await assert.rejects(stream.next(), (err) => ConnectError.from(err).code === Code.Canceled);
    },
  );

  test("instances that start together seed a new catalogue once", TIMEOUT, async () => {
    const namespace = "seeding";
    const [a, b] = await Promise.all([
      openCatalog(storesOn(await connection(), namespace)),
      openCatalog(storesOn(await connection(), namespace)),
    ]);
    try {
      assert.equal(a.list().length, 12);
      assert.deepEqual(
        b.list().map((p) => p.id),
        a.list().map((p) => p.id),
      );
      const jsm = await jetstreamManager(connections[0] as NatsConnection);
      const { state } = await jsm.streams.info("KV_seeding_products");
      assert.equal(state.last_seq, 12, "each product was written once");
    } finally {
      a.close();
      b.close();
    }
  });

  test("LookupProducts answers each id as it arrives, in order", TIMEOUT, async () => {
    // The requests are fed one at a time: the next id is sent only once the previous answer is in.
    const requests = pushable<{ id: string }>();
    const responses = products.lookupProducts(requests, { timeoutMs: 20_000 })[Symbol.asyncIterator]();
    const answer = async (id: string): Promise<LookupProductsResponse> => {
      requests.push({ id });
      const next = await responses.next();
      assert.equal(next.done, false);
      return next.value;
    };

    const found = await answer("p-1011");
    assert.equal(found.found, true);
    assert.equal(found.product?.sku, "TENT-2P-ULT");
    const missing = await answer("p-none");
    assert.deepEqual([missing.id, missing.found, missing.product], ["p-none", false, undefined]);
    const withdrawn = await answer("p-1012");
    assert.deepEqual(
      [withdrawn.found, withdrawn.product?.active],
      [true, false],
      "withdrawn products are found",
    );
    requests.end();
    assert.equal((await responses.next()).done, true, "the stream ends after the requests do");
  });

  test("a nested call inherits the caller's remaining deadline", TIMEOUT, async () => {
    // A second system in its own namespace (its actors keep their state in that namespace's
    // buckets), with a product actor slower than the caller's deadline.
    const namespace = "slow";
    const slowCalls = callRecorder();
    actors.push(
      await serveActor(await connection(), slowed(productActor, 5_000), {
        namespace,
        logger: silentLogger,
        interceptors: [slowCalls.interceptor],
      }),
      await serveActor(await connection(), userActor, { namespace, logger: silentLogger }),
    );
    const slowUsers = createClient(UserService, createNatsTransport({ nc: await connection(), namespace }));
    const { user } = await slowUsers.registerUser({
      idempotencyKey: "k",
      email: "slow@example.org",
      displayName: "S",
    });
    assert.ok(user);
    const jsm = await jetstreamManager(await connection());
    for (const bucket of ["slow_products", "slow_users", "slow_user_emails", "slow_user_registrations"]) {
      const { state } = await jsm.streams.info(`KV_${bucket}`);
      assert.ok(state.messages > 0, `the slow system's state is in ${bucket}`);
    }
    const elsewhere = await connectErrorOf(users.getUser({ id: user.id }));
    assert.equal(elsewhere.code, Code.NotFound, "the other system does not know the user");

    const started = performance.now();
    const error = await connectErrorOf(
      slowUsers.recordProductView({ viewId: "v", userId: user.id, productId: "p-1001" }, { timeoutMs: 400 }),
    );
    assert.equal(error.code, Code.DeadlineExceeded);
    // The product actor was given the caller's remaining time (not its own 10 s default), so its
    // host aborted the handler at the caller's deadline instead of answering after 5 s.
    const served = await slowCalls.next((call) => call.method === "GetProduct");
    assert.equal(served.outcome, "DeadlineExceeded");
    assert.ok(performance.now() - started < 4_000, "the nested call ended at the caller's deadline");
  });
});

describe("user state across a server restart", () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];

  before(async () => {
    server = await startNatsServer();
  });

  after(async () => {
    for (const actor of actors) await actor.drain(1_000);
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  test("users, idempotency keys and view histories survive it", { timeout: 60_000 }, async () => {
    const connection = async () => {
      const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
      connections.push(nc);
      return nc;
    };
    actors.push(
      await serveActor(await connection(), productActor, { logger: silentLogger }),
      await serveActor(await connection(), userActor, { logger: silentLogger }),
    );
    const users = createClient(
      UserService,
      createNatsTransport({ nc: await connection(), timeoutMs: 2_000 }),
    );
    const registration = { idempotencyKey: "durable-1", email: "durable@example.org", displayName: "Dora" };
    const { user } = await users.registerUser(registration);
    assert.ok(user);
    await users.recordProductView({ viewId: "dv-1", userId: user.id, productId: "p-1005" });
    const second = await users.recordProductView({ viewId: "dv-2", userId: user.id, productId: "p-1011" });
    const before = await users.listRecentlyViewed({ userId: user.id });

    await server.restart();

    // Every connection reconnects on its own; until then calls fail as unavailable.
    let fetched: Awaited<ReturnType<typeof users.getUser>> | undefined;
    for (let attempt = 0; fetched === undefined; attempt++) {
      try {
        fetched = await users.getUser({ id: user.id });
      } catch (err) {
        if (attempt === 100) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.ok(fetched.user && equals(UserSchema, fetched.user, user), "the user is back, unchanged");
    const after = await users.listRecentlyViewed({ userId: user.id });
    assert.deepEqual(
      after.products.map((entry) => [entry.product?.id, entry.viewedAt]),
      before.products.map((entry) => [entry.product?.id, entry.viewedAt]),
      "the view history is back",
    );
    const retry = await users.recordProductView({ viewId: "dv-2", userId: user.id, productId: "p-1011" });
    assert.deepEqual(retry.viewedAt, second.viewedAt, "a retried view is still recognised");
    assert.equal((await users.registerUser(registration)).user?.id, user.id, "so is a retried registration");
    const taken = await connectErrorOf(users.registerUser({ ...registration, idempotencyKey: "durable-2" }));
    assert.equal(taken.code, Code.AlreadyExists, "and the email is still taken");
  });
});
