/**
 * Direct calls by address (docs/adr/0031-direct-calls-by-address.md): an instance that listens
 * for them advertises `host:port` in discovery; `createDirectCaller(…, { byAddress: true })`
 * calls it over TCP with the same deadline, metadata and errors as over NATS, and falls back to
 * NATS when the address cannot take calls: killed mid-load (no call lost: GetProduct may be
 * repeated, so the few in flight move to the other instance) or draining (GOAWAY: none fails).
 * Garbage on the port ends that connection only. On a bus with credentials the listener enforces
 * the caller's NATS permissions. Real nats-server, actors served in-process.
 */
import assert from "node:assert/strict";
import { connect as tcpConnect } from "node:net";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type ActorDefinition,
  connect,
  createDirectCaller,
  createNatsTransport,
  declarationOf,
  defineActor,
  implement,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { discoverService } from "troupe/discovery";
import { rpcInstanceSubject, rpcMethodSubject } from "troupe/protocol";
import {
  createAuthKeys,
  createLocalCa,
  issueCertificate,
  issueUser,
  type ProcessDeclaration,
} from "troupe/security";
import {
  type NatsServer,
  type SecuredNatsServer,
  startNatsServer,
  startSecuredNatsServer,
} from "troupe/testing";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { formatServiceInfo } from "../../runtime/cli/commands/info-command.ts";
import {
  encodeRequest,
  encodeSignal,
  FrameDecoder,
  FrameKind,
} from "../../runtime/protocol/direct-frames.ts";
import { parseCallerCredentials, proveIdentity } from "../../runtime/security/direct-auth.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "byaddr";

/** Answers as `tag`; `slow` waits out its deadline, `missing` is not_found, `tenant` echoes metadata. */
function catalogue(tag: string): ActorDefinition {
  return defineActor({
    name: "catalogue",
    version: "1.0.0",
    description: `answers as ${tag}`,
    serves: [ProductService],
    services: () => [
      implement(ProductService, {
        async getProduct(request, ctx) {
          if (request.id === "slow") {
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
            throw ConnectError.from(ctx.signal.reason);
          }
          if (request.id === "missing") throw new ConnectError("no product missing", Code.NotFound);
          if (request.id === "tenant") {
            ctx.responseHeader.set("x-served-by", tag);
            return { product: { id: request.id, name: ctx.requestHeader.get("x-tenant") ?? "" } };
          }
          return { product: { id: request.id, name: tag } };
        },
      }),
    ],
  });
}

/** Runs `total` calls, `concurrency` at a time; `onProgress` sees the count done so far. */
async function load(
  total: number,
  concurrency: number,
  call: (i: number) => Promise<unknown>,
  onProgress: (done: number) => void = () => {},
): Promise<{ ok: number; failed: ConnectError[] }> {
  let next = 0;
  let ok = 0;
  const failed: ConnectError[] = [];
  const worker = async () => {
    while (next < total) {
      const i = next++;
      try {
        await call(i);
        ok++;
      } catch (err) {
        failed.push(ConnectError.from(err));
      }
      onProgress(ok + failed.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, failed };
}

describe("direct calls by address", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const connections: NatsConnection[] = [];
  const actors: RunningActor[] = [];

  const serve = async (tag: string): Promise<RunningActor> => {
    const own = await connect({ servers: server.url });
    connections.push(own);
    const actor = await serveActor(own, catalogue(tag), {
      namespace: NAMESPACE,
      logger: silentLogger,
      direct: {},
    });
    actors.push(actor);
    return actor;
  };
  const caller = () =>
    createDirectCaller(nc, ProductService, {
      byAddress: true,
      strategy: "random",
      discoveryTtlMs: 200,
      transport: { namespace: NAMESPACE },
    });

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  after(async () => {
    for (const actor of actors) await actor.drain(0).catch(() => {});
    for (const c of [nc, ...connections]) await c?.close();
    await server?.stop();
  });

  test(
    "an instance advertises its address; calls go over TCP with deadline, metadata and errors",
    TIMEOUT,
    async () => {
      const a = await serve("a");
      assert.ok(a.direct !== undefined, "the actor listens for direct calls");
      assert.match(a.direct.address, /^127\.0\.0\.1:\d+$/);
      const [found] = await discoverService(nc, "catalogue");
      assert.equal(found?.address, a.direct.address, "discovery reports the address");
      assert.ok(
        formatServiceInfo(found === undefined ? [] : [found], NAMESPACE).some(
          (line) => line.includes(`tcp ${a.direct?.address}`) && line.includes("calls by address"),
        ),
        "troupe info shows it",
      );
      // Without `direct`, an actor takes calls over NATS only and advertises nothing.
      const plain = await serveActor(connections[0] as NatsConnection, catalogue("plain"), {
        namespace: "plain",
        logger: silentLogger,
      });
      assert.equal(plain.direct, undefined);
      await plain.drain(0);

      const products = caller();
      try {
        // The first call goes over NATS and opens the connection; once it is open, TCP carries them.
        const tags = new Set<string>();
        const getProduct = async (id: string) => {
          const { product } = await products.call(ProductService.method.getProduct, (client) =>
            client.getProduct({ id }),
          );
          tags.add(product?.name ?? "");
        };
        await getProduct("p-0");
        const channel = products.channels().get(a.id);
        assert.ok(channel !== undefined, "a channel to the instance's address");
        assert.equal(await channel.connect(), true, channel.lastFailure ?? "");
        for (let i = 1; i < 50; i++) await getProduct(`p-${i}`);
        assert.deepEqual([...tags], ["a"]);
        assert.deepEqual(channel.counts, { direct: 49, nats: 1 }, "the calls after the first went over TCP");
        assert.equal(a.direct.served, channel.counts.direct, "the listener served exactly those");

        const tenant = await products.call(ProductService.method.getProduct, (client) =>
          client.getProduct({ id: "tenant" }, { headers: { "x-tenant": "acme" } }),
        );
        assert.equal(tenant.product?.name, "acme", "request metadata arrives");
        const missing = await connectErrorOf(
          products.call(ProductService.method.getProduct, (client) => client.getProduct({ id: "missing" })),
        );
        assert.equal(missing.code, Code.NotFound);
        assert.equal(missing.rawMessage, "no product missing");
        const started = performance.now();
        const slow = await connectErrorOf(
          products.call(ProductService.method.getProduct, (client) =>
            client.getProduct({ id: "slow" }, { timeoutMs: 200 }),
          ),
        );
        assert.equal(slow.code, Code.DeadlineExceeded);
        assert.ok(performance.now() - started < 2_000, "the deadline holds over TCP");
        assert.deepEqual(channel.counts, { direct: 52, nats: 1 }, "those went over TCP too");
      } finally {
        products.close();
      }
    },
  );

  test("the address dies mid-load: the calls fall back to NATS and none is lost", TIMEOUT, async () => {
    const b = await serve("b");
    const products = caller();
    try {
      // Both instances' channels open before the load, so the calls before the kill go over TCP.
      for (let i = 0; i < 200 && products.channels().size < 2; i++) {
        await products.call(ProductService.method.getProduct, (client) => client.getProduct({ id: "w" }));
      }
      const warm = [...products.channels().values()];
      assert.equal(warm.length, 2, "a channel to each instance");
      assert.deepEqual(await Promise.all(warm.map((c) => c.connect())), [true, true]);
      const before = warm.map((c) => ({ ...c.counts }));
      let killed = false;
      const total = 2_000;
      const result = await load(
        total,
        32,
        (i) =>
          products.call(ProductService.method.getProduct, (client) => client.getProduct({ id: `k-${i}` })),
        (done) => {
          if (done >= 500 && !killed) {
            killed = true;
            // The listener and every connection die; the actor keeps serving over NATS.
            for (const actor of actors) void actor.direct?.close();
          }
        },
      );
      assert.ok(killed);
      assert.deepEqual(
        result.failed.map((e) => `${Code[e.code]}: ${e.rawMessage}`),
        [],
        "every call answered (GetProduct is repeatable: those in flight moved on)",
      );
      assert.equal(result.ok, total);
      const channels = [...products.channels().values()];
      const sum = (pick: (i: number) => number) => channels.reduce((n, _c, i) => n + pick(i), 0);
      const direct = sum((i) => (channels[i]?.counts.direct ?? 0) - (before[i]?.direct ?? 0));
      const overNats = sum((i) => (channels[i]?.counts.nats ?? 0) - (before[i]?.nats ?? 0));
      assert.ok(direct >= 400, `the calls before the kill went over TCP (${direct})`);
      assert.ok(overNats >= 1_000, `the calls after it over NATS (${overNats})`);
      assert.ok(
        channels.every((c) => !c.connected),
        "no channel is connected to a dead address",
      );
      assert.ok(b.host.endpoints.length > 0);
    } finally {
      products.close();
    }
  });

  test("a draining instance says GOAWAY: calls move to NATS and none fails", TIMEOUT, async () => {
    for (const actor of actors.splice(0)) await actor.drain(0);
    const c = await serve("c");
    const d = await serve("d");
    const products = caller();
    try {
      let drained: Promise<void> | undefined;
      const result = await load(
        1_000,
        16,
        (i) =>
          products.call(ProductService.method.getProduct, (client) => client.getProduct({ id: `g-${i}` })),
        (done) => {
          if (done >= 300 && drained === undefined) drained = c.drain(5_000);
        },
      );
      await drained;
      assert.equal(result.failed.length, 0, result.failed.map((e) => e.message).join("\n"));
      assert.equal(result.ok, 1_000);
      assert.ok((d.direct?.served ?? 0) > 0, "the other instance took calls over TCP");
      assert.equal(c.direct?.connections, 0, "the drained instance closed its connections");
    } finally {
      products.close();
    }
  });

  test(
    "with a certificate the listener speaks TLS; callers verify it against their CA",
    TIMEOUT,
    async () => {
      for (const actor of actors.splice(0)) await actor.drain(0);
      const ca = await createLocalCa();
      const stranger = await createLocalCa();
      const issued = await issueCertificate(ca, { commonName: "localhost" });
      const own = await connect({ servers: server.url });
      connections.push(own);
      const t = await serveActor(own, catalogue("t"), {
        namespace: NAMESPACE,
        logger: silentLogger,
        direct: { tls: { certPem: issued.certPem, keyPem: issued.keyPem } },
      });
      actors.push(t);
      assert.match(t.direct?.address ?? "", /^tls:\/\/127\.0\.0\.1:\d+$/);
      /** Connects a channel with `caPem` trusted, then makes 30 calls: where they went, and why not TCP. */
      const callWith = async (caPem: string | undefined) => {
        const products = createDirectCaller(nc, ProductService, {
          byAddress: true,
          transport: { namespace: NAMESPACE },
          direct: caPem === undefined ? {} : { caPem },
        });
        try {
          // The first call makes the channel (over NATS, while it connects); then wait for the attempt.
          await products.call(ProductService.method.getProduct, (client) => client.getProduct({ id: "t-0" }));
          const channel = products.channels().get(t.id) ?? assert.fail("no channel");
          const connected = await channel.connect();
          for (let i = 1; i < 30; i++) {
            const { product } = await products.call(ProductService.method.getProduct, (client) =>
              client.getProduct({ id: `t-${i}` }),
            );
            assert.equal(product?.name, "t");
          }
          return { connected, counts: { ...channel.counts }, failure: channel.lastFailure };
        } finally {
          products.close();
        }
      };
      const trusted = await callWith(ca.certPem);
      assert.equal(trusted.connected, true, trusted.failure ?? "");
      assert.deepEqual(trusted.counts, { direct: 29, nats: 1 }, "over TLS once connected");
      // A CA that did not sign the certificate: the handshake fails, the calls go over NATS.
      const untrusted = await callWith(stranger.certPem);
      assert.equal(untrusted.connected, false);
      assert.match(untrusted.failure ?? "", /certificate|verify|self.signed|issuer/i);
      assert.deepEqual(untrusted.counts, { direct: 0, nats: 30 });
      // No CA at all: a tls:// address is not dialled.
      const none = await callWith(undefined);
      assert.deepEqual([none.connected, none.counts], [false, { direct: 0, nats: 30 }]);
    },
  );

  test("garbage on the port ends that connection only", TIMEOUT, async () => {
    for (const actor of actors.splice(0)) await actor.drain(0);
    const e = await serve("e");
    const address = e.direct?.address ?? assert.fail("no address");
    const port = Number(address.split(":")[1]);
    const closed = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: "127.0.0.1", port }, () => {
        socket.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      });
      socket.resume(); // reads the HELLO, so the close arrives
      socket.on("close", () => resolve(true));
      socket.on("error", () => {});
      setTimeout(() => resolve(false), 5_000).unref?.();
    });
    assert.ok(closed, "the listener ended the connection");
    // Still serving, over TCP, to a well-behaved caller bound to this instance.
    const products = caller();
    try {
      for (let i = 0; i < 20; i++) {
        await products.call(ProductService.method.getProduct, (client) =>
          client.getProduct({ id: `x-${i}` }),
        );
      }
      assert.ok((e.direct?.served ?? 0) > 0, "served over TCP after the garbage");
    } finally {
      products.close();
    }
    // A plain NATS client still reaches it too.
    const overNats = createClient(ProductService, createNatsTransport({ nc, namespace: NAMESPACE }));
    assert.ok((await overNats.getProduct({ id: "n-1" })).product !== undefined);
  });
});

/**
 * With credentials, a listener asks callers to prove a user of its account and lets each call
 * only what that user may publish: the permissions of the bus hold on the direct path too.
 */
describe("direct calls by address on a bus with credentials", () => {
  let secured: SecuredNatsServer;
  let catalogueActor: RunningActor;
  const shopper = (name: string, calls: readonly string[]): ProcessDeclaration => ({
    name,
    version: "1.0.0",
    serves: [],
    calls,
    publishes: { events: [], jobs: [] },
    consumes: { events: [], jobs: [] },
    state: [],
  });

  before(async () => {
    secured = await startSecuredNatsServer();
    const definition = catalogue("s");
    catalogueActor = await serveActor(await secured.connectAs(declarationOf(definition)), definition, {
      namespace: "",
      logger: silentLogger,
      direct: {},
    });
  });

  after(async () => {
    await catalogueActor?.drain(0);
    await secured?.dispose();
  });

  /** Connects a channel to the catalogue, then calls once over it: that call's outcome. */
  const callOverTcp = async (nc: NatsConnection) => {
    const products = createDirectCaller(nc, ProductService, { byAddress: true });
    try {
      const call = () =>
        products.call(ProductService.method.getProduct, (client) => client.getProduct({ id: "p-1" }));
      // The first call makes the channel (and goes over NATS while it connects).
      await call().catch(() => {});
      const channel = products.channels().get(catalogueActor.id) ?? assert.fail("no channel");
      assert.equal(await channel.connect(), true, channel.lastFailure ?? "");
      const taken = () => (catalogueActor.direct?.served ?? 0) + (catalogueActor.direct?.denied ?? 0);
      const before = taken();
      const outcome = await call().then(
        (response) => response.product?.name ?? "",
        (err: unknown) => ConnectError.from(err),
      );
      assert.equal(taken(), before + 1, "the call went over TCP");
      return outcome;
    } finally {
      products.close();
    }
  };

  test("a user that declared the service calls it over TCP", TIMEOUT, async () => {
    const nc = await secured.connectAs(shopper("shopper-a", [ProductService.typeName]));
    assert.equal(await callOverTcp(nc), "s");
  });

  test("a user that did not declare it is refused, naming the subject, as on the bus", TIMEOUT, async () => {
    const nc = await secured.connectAs(shopper("shopper-b", []));
    const outcome = await callOverTcp(nc);
    assert.ok(outcome instanceof ConnectError, `refused, got ${String(outcome)}`);
    assert.equal(outcome.code, Code.PermissionDenied);
    const subject = rpcInstanceSubject(ProductService.method.getProduct, catalogueActor.id);
    assert.equal(outcome.rawMessage, `not permitted to publish to ${subject} (user shopper-b)`);
  });

  test("no proof, or a user of another account, and the listener ends the connection", TIMEOUT, async () => {
    const address = catalogueActor.direct?.address ?? assert.fail("no address");
    const port = Number(address.split(":")[1]);
    const strangers = createAuthKeys();
    const mallory = await issueUser(strangers, "mallory");
    const credentials = parseCallerCredentials(mallory.creds) ?? assert.fail("no credentials");
    /** Connects, reads HELLO, sends what `answer` makes of its nonce; true once the listener closes. */
    const closedAfter = (answer: (nonce: Uint8Array) => Uint8Array) =>
      new Promise<boolean>((resolve) => {
        const socket = tcpConnect({ host: "127.0.0.1", port });
        const decoder = new FrameDecoder(1 << 20);
        socket.on("data", (chunk: Uint8Array) => {
          for (const frame of decoder.push(chunk)) {
            if (frame.kind === FrameKind.hello) {
              assert.equal(frame.id, 1, "the listener asks for a proof");
              socket.write(answer(frame.payload));
            }
            if (frame.kind === FrameKind.welcome || frame.kind === FrameKind.reply) resolve(false);
          }
        });
        socket.on("close", () => resolve(true));
        socket.on("error", () => {});
      });
    const request = encodeRequest(
      1,
      rpcMethodSubject(ProductService.method.getProduct),
      new Uint8Array(0),
      new Uint8Array(0),
    );
    assert.ok(await closedAfter(() => request), "a call without a proof");
    const forged = (nonce: Uint8Array) =>
      encodeSignal(
        FrameKind.auth,
        0,
        new TextEncoder().encode(JSON.stringify(proveIdentity(credentials, nonce))),
      );
    assert.ok(await closedAfter(forged), "a proof by a user of another account");
    // The listener still serves a user of its own.
    const nc = await secured.connectAs(shopper("shopper-c", [ProductService.typeName]));
    assert.equal(await callOverTcp(nc), "s");
  });
});
