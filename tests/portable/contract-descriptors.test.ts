/**
 * Contracts travel with the services (docs/adr/0022-contract-descriptors.md), against a real
 * nats-server: an actor stores the FileDescriptorSet of what it serves, publishes and consumes in
 * the descriptors bucket once per hash and names the hash in `$SRV.INFO`; a decoder that knows no
 * `.proto` file turns captured RPC requests and replies, events and dead letters into JSON; a
 * server without JetStream, or JetStream that does not answer, does not stop an actor.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { Kvm } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  type ActorContext,
  defineActor,
  implement,
  type Logger,
  onJob,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import {
  createTrafficDecoder,
  decodeTraffic,
  NO_DESCRIPTORS_BUCKET,
  ServiceMetadata,
  serviceInfos,
} from "troupe/discovery";
import { loadDescriptors } from "troupe/jetstream";
import { buildDescriptorSet, descriptorsBucketName, parseSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { FulfilOrderSchema } from "../../proto/gen/shop/v1/order_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { GetUserRequestSchema, UserRegisteredSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";
import { deferred, withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 30_000 };
const NAMESPACE = "acme";
const BUCKET = "acme_troupe_descriptors";
const CREATED = new Date("2026-12-01T10:00:00Z");

/** The next message of `sub`, or a failure naming `what`. */
async function next(sub: Subscription, what: string): Promise<Msg> {
  return withTimeout(
    (async () => {
      for await (const m of sub) return m;
      throw new Error("subscription closed");
    })(),
    10_000,
    () => what,
  );
}

let registrar: ActorContext | undefined;
const userActor = defineActor({
  name: "users",
  version: "1.0.0",
  description: "users, their events, and a job that always fails",
  serves: [UserService],
  consumes: { jobs: [FulfilOrderSchema] },
  publishes: { events: [UserRegisteredSchema], jobs: [FulfilOrderSchema] },
  setup: (ctx: ActorContext) => {
    registrar = ctx;
  },
  services: () => [
    implement(UserService, {
      getUser: (request) => ({
        user: { id: request.id, email: `${request.id}@example.com`, createdAt: timestampFromDate(CREATED) },
      }),
    }),
  ],
  subscriptions: () => [
    onJob(
      FulfilOrderSchema,
      () => {
        throw new Error("warehouse w-7 is closed");
      },
      { ackWaitMs: 1_000, maxAttempts: 1 },
    ),
  ],
});

const productActor = defineActor({
  name: "products",
  version: "1.0.0",
  description: "another contract",
  serves: [ProductService],
  services: () => [implement(ProductService, { getProduct: (r) => ({ product: { id: r.id } }) })],
});

describe("contract descriptors", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const actors: RunningActor[] = [];
  const options = { logger: silentLogger, namespace: NAMESPACE };

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  after(async () => {
    await Promise.all(actors.map((a) => a.drain(0)));
    await nc?.close();
    await server?.dispose();
  });

  async function serve(actor: Parameters<typeof serveActor>[1]): Promise<RunningActor> {
    const running = await serveActor(nc, actor, options);
    actors.push(running);
    return running;
  }

  async function infoOf(running: RunningActor) {
    const [info] = await serviceInfos(nc, { name: running.name, id: running.id });
    assert.ok(info, `${running.name} answers $SRV.INFO`);
    return info;
  }

  test("the order of the types does not change the set or its hash", async () => {
    const one = await buildDescriptorSet([UserService, FulfilOrderSchema, UserRegisteredSchema]);
    const other = await buildDescriptorSet([
      UserRegisteredSchema,
      FulfilOrderSchema,
      UserService,
      UserService,
    ]);
    assert.equal(one.hash, other.hash);
    assert.deepEqual(one.bytes, other.bytes);
    const files = [...one.files];
    assert.ok(
      files.indexOf("google/protobuf/timestamp.proto") < files.indexOf("shop/v1/user.proto"),
      "a file comes after the files it imports",
    );
    const another = await buildDescriptorSet([ProductService]);
    assert.notEqual(another.hash, one.hash, "other contracts, another hash");
  });

  test("$SRV.INFO names a hash whose stored value is the set of the actor's contracts", TIMEOUT, async () => {
    const users = await serve(userActor);
    const info = await infoOf(users);
    const reference = info.metadata[ServiceMetadata.descriptors] ?? "";
    assert.match(reference, /^sha256:[0-9a-f]{64}$/);
    assert.equal(info.metadata[ServiceMetadata.descriptorsBucket], BUCKET);
    assert.equal(descriptorsBucketName(NAMESPACE), BUCKET);

    const hash = reference.slice("sha256:".length);
    const bytes = await loadDescriptors(nc, BUCKET, hash);
    assert.ok(bytes, "the bucket holds the set under its hash");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
    assert.equal(Buffer.from(digest).toString("hex"), hash, "the key is the SHA-256 of the value");

    const set = fromBinary(FileDescriptorSetSchema, bytes);
    const names = set.file.map((f) => f.name);
    for (const file of [
      "shop/v1/user.proto", // the service and the event
      "shop/v1/order.proto", // the job it publishes and consumes
      "shop/v1/product.proto", // imported by user.proto
      "google/protobuf/timestamp.proto",
      "buf/validate/validate.proto",
      "google/api/annotations.proto",
      "troupe/v1/options.proto",
    ]) {
      assert.ok(names.includes(file), `the set holds ${file}: ${names.join(", ")}`);
    }
    const registry = createFileRegistry(set);
    assert.deepEqual(
      registry.getService("shop.v1.UserService")?.methods.map((m) => m.name),
      UserService.methods.map((m) => m.name),
    );
    assert.ok(registry.getMessage("shop.v1.FulfilOrder"));
    assert.equal(await loadDescriptors(nc, BUCKET, "0".repeat(64)), undefined, "another key: nothing");
  });

  test("instances with the same contracts write the bucket once", TIMEOUT, async () => {
    const kv = await new Kvm(nc).open(BUCKET);
    const before = (await kv.status()).streamInfo.state;
    const second = await serve(userActor);
    const third = await serve(userActor);
    const references = await Promise.all([second, third].map(async (a) => (await infoOf(a)).metadata));
    assert.equal(references[0]?.[ServiceMetadata.descriptors], references[1]?.[ServiceMetadata.descriptors]);
    const afterSame = (await kv.status()).streamInfo.state;
    assert.equal(afterSame.messages, before.messages, "no new value");
    assert.equal(afterSame.last_seq, before.last_seq, "no write at all, not even a rejected one stored");

    await serve(productActor);
    const afterOther = (await kv.status()).streamInfo.state;
    assert.equal(afterOther.messages, before.messages + 1, "other contracts are a second value");
    const config = (await kv.status()).streamInfo.config;
    assert.equal(config.max_age, 0, "a fact never expires");
    assert.equal(config.max_msgs_per_subject, 1);
  });

  test("captured requests, replies, events and dead letters decode to JSON", TIMEOUT, async () => {
    const decoder = createTrafficDecoder(nc, { namespace: NAMESPACE });

    // An RPC request, seen by a plain subscriber, and its reply.
    const calls = nc.subscribe(`${NAMESPACE}.rpc.shop.v1.UserService.>`);
    const request = toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { id: "u-42" }));
    const reply = await nc.request(`${NAMESPACE}.rpc.shop.v1.UserService.GetUser`, request, {
      timeout: 5_000,
    });
    const seen = await next(calls, "the GetUser request");
    calls.unsubscribe();
    const decodedRequest = await decoder.decode(seen);
    assert.equal(decodedRequest.kind, "request");
    assert.equal(decodedRequest.method, "shop.v1.UserService.GetUser");
    assert.equal(decodedRequest.typeName, "shop.v1.GetUserRequest");
    assert.deepEqual(decodedRequest.json, { id: "u-42" });
    assert.match(decodedRequest.descriptors, /^sha256:/);

    const decodedReply = await decoder.decode(
      { subject: seen.subject, data: reply.data, headers: reply.headers },
      { response: true },
    );
    assert.equal(decodedReply.kind, "response");
    assert.equal(decodedReply.typeName, "shop.v1.GetUserResponse");
    assert.deepEqual(decodedReply.json, {
      user: { id: "u-42", email: "u-42@example.com", createdAt: "2026-12-01T10:00:00Z" },
    });

    // A JSON request (what `nats req` sends) decodes too, on an instance's own subject.
    const direct = await decoder.decode({
      subject: `${NAMESPACE}.rpc.shop.v1.UserService.GetUser.${actors[0]?.id}`,
      data: new TextEncoder().encode('{"id":"u-7"}'),
    });
    assert.deepEqual(direct.json, { id: "u-7" });

    // An event, as the stream stores it.
    assert.ok(registrar);
    const events = nc.subscribe(`${NAMESPACE}.evt.>`);
    await registrar.publish(UserRegisteredSchema, {
      userId: "u-42",
      email: "u-42@example.com",
      displayName: "Ada",
      registeredAt: timestampFromDate(CREATED),
    });
    const event = await next(events, "the UserRegistered event");
    events.unsubscribe();
    assert.equal(event.subject, `${NAMESPACE}.evt.shop.v1.UserRegistered.u-42`);
    const decodedEvent = await decoder.decode(event);
    assert.equal(decodedEvent.kind, "event");
    assert.equal(decodedEvent.typeName, "shop.v1.UserRegistered");
    assert.deepEqual(decodedEvent.json, {
      userId: "u-42",
      email: "u-42@example.com",
      displayName: "Ada",
      registeredAt: "2026-12-01T10:00:00Z",
    });

    // A job whose handler fails, dead-lettered after its one attempt.
    const deadLetters = nc.subscribe(`${NAMESPACE}.dlq.>`);
    await registrar.enqueue(FulfilOrderSchema, { orderId: "o-9" });
    const deadLetter = await next(deadLetters, "the dead letter of FulfilOrder o-9");
    deadLetters.unsubscribe();
    const decodedDeadLetter = await decodeTraffic(nc, deadLetter, { namespace: NAMESPACE });
    assert.equal(decodedDeadLetter.kind, "dead-letter");
    assert.equal(decodedDeadLetter.typeName, "shop.v1.FulfilOrder");
    assert.deepEqual(decodedDeadLetter.json, { orderId: "o-9" });
    assert.deepEqual(decodedDeadLetter.deadLetter, {
      subject: `${NAMESPACE}.job.shop.v1.FulfilOrder`,
      kind: "job",
      stream: "acme_JOB_shop_v1_FulfilOrder",
      consumer: "FulfilOrder",
      code: "unknown", // a plain Error, not a ConnectError
      error: "warehouse w-7 is closed",
      deliveryCount: 1,
    });
  });

  test("an unknown type, a foreign subject or a bad payload is a clear error", TIMEOUT, async () => {
    const decoder = createTrafficDecoder(nc, { namespace: NAMESPACE });
    const empty = new Uint8Array(0);

    const unknownEvent = await connectErrorOf(
      decoder.decode({ subject: `${NAMESPACE}.evt.shop.v1.NoSuchThing._`, data: empty }),
    );
    assert.equal(unknownEvent.code, Code.NotFound);
    assert.match(unknownEvent.rawMessage, /no running service describes shop\.v1\.NoSuchThing/);

    const unknownMethod = await connectErrorOf(
      decoder.decode({ subject: `${NAMESPACE}.rpc.shop.v1.UserService.Vanish`, data: empty }),
    );
    assert.equal(unknownMethod.code, Code.NotFound);
    assert.match(unknownMethod.rawMessage, /the method of acme\.rpc\.shop\.v1\.UserService\.Vanish/);

    const foreign = await connectErrorOf(decoder.decode({ subject: "orders.created", data: empty }));
    assert.equal(foreign.code, Code.InvalidArgument);
    assert.match(foreign.rawMessage, /orders\.created is not a Troupe subject under namespace "acme"/);

    const outside = await connectErrorOf(
      decoder.decode({ subject: "evt.shop.v1.UserRegistered.u-1", data: empty }),
    );
    assert.equal(outside.code, Code.InvalidArgument, "a subject outside the namespace is not decoded");

    const garbage = await connectErrorOf(
      decoder.decode({
        subject: `${NAMESPACE}.evt.shop.v1.UserRegistered.u-1`,
        data: new Uint8Array([0x0a, 0xff]),
      }),
    );
    assert.equal(garbage.code, Code.InvalidArgument);
    assert.match(garbage.rawMessage, /cannot decode shop\.v1\.UserRegistered from binary protobuf/);

    const bare = await connectErrorOf(
      decoder.decode({ subject: `${NAMESPACE}.dlq.acme_JOB_shop_v1_FulfilOrder.FulfilOrder`, data: empty }),
    );
    assert.equal(bare.code, Code.InvalidArgument);
    assert.match(bare.rawMessage, /dead letter, but its headers do not name/);
  });

  test("subjects parse into what they carry", () => {
    assert.deepEqual(parseSubject("acme.evt.shop.v1.OrderPlaced._", "acme"), {
      kind: "event",
      typeName: "shop.v1.OrderPlaced",
      key: undefined,
    });
    assert.deepEqual(parseSubject("job.shop.v1.FulfilOrder"), {
      kind: "job",
      typeName: "shop.v1.FulfilOrder",
    });
    assert.deepEqual(parseSubject("dlq.DLQ_x.c"), { kind: "dead-letter", stream: "DLQ_x", consumer: "c" });
    assert.deepEqual(parseSubject("rpc.shop.v1.UserService.GetUser.v.1_1_0"), {
      kind: "rpc",
      tail: "shop.v1.UserService.GetUser.v.1_1_0",
    });
    assert.equal(parseSubject("dlq.a.b.c"), undefined);
    assert.equal(parseSubject("evt.shop.v1.>"), undefined, "a wildcard is no message's subject");
    assert.equal(parseSubject("acme.rpc.a.B", "other"), undefined);
  });
});

describe("contract descriptors without JetStream", () => {
  test(
    "an actor on a server without JetStream starts and says where its descriptors are not",
    TIMEOUT,
    async () => {
      await using server = await startNatsServer({ jetstream: false });
      const nc = await connect({ servers: server.url });
      try {
        const running = await serveActor(nc, productActor, { logger: silentLogger });
        try {
          const [info] = await serviceInfos(nc, { name: "products" });
          assert.match(info?.metadata[ServiceMetadata.descriptors] ?? "", /^sha256:[0-9a-f]{64}$/);
          assert.equal(info?.metadata[ServiceMetadata.descriptorsBucket], NO_DESCRIPTORS_BUCKET);
          const error = await connectErrorOf(
            decodeTraffic(nc, { subject: "rpc.shop.v1.ProductService.GetProduct", data: new Uint8Array(0) }),
          );
          assert.equal(error.code, Code.NotFound);
          assert.match(error.rawMessage, /products\/\w+ runs without JetStream/);
        } finally {
          await running.drain(0);
        }
      } finally {
        await nc.close();
      }
    },
  );

  test("JetStream that does not answer is a warning, not a failed start", TIMEOUT, async () => {
    await using server = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: server.url });
    // Stands in for a JetStream that is restarting: every API request is answered with a 503.
    const unavailable = nc.subscribe("$JS.API.>", {
      callback: (_err, msg) => {
        msg.respond(
          JSON.stringify({
            type: "io.nats.jetstream.api.v1.error",
            error: { code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" },
          }),
        );
      },
    });
    const warnings: string[] = [];
    const retried = deferred();
    const logger: Logger = {
      log(level, message) {
        if (level !== "warn") return;
        warnings.push(message);
        if (warnings.length === 2) retried.resolve();
      },
    };
    try {
      const running = await serveActor(nc, productActor, { logger });
      try {
        assert.deepEqual(warnings, ["contract descriptors not stored yet; trying again while serving"]);
        const [info] = await serviceInfos(nc, { name: "products" });
        assert.equal(info?.metadata[ServiceMetadata.descriptorsBucket], "troupe_descriptors");
        // It tries again while it serves: now nothing answers the JetStream API at all.
        unavailable.unsubscribe();
        await withTimeout(
          retried.promise,
          10_000,
          () => `a second attempt (warnings: ${warnings.join(" | ")})`,
        );
        assert.equal(warnings[1], "contract descriptors not stored: JetStream is gone");
      } finally {
        await running.drain(0);
      }
    } finally {
      unavailable.unsubscribe();
      await nc.close();
    }
  });
});
