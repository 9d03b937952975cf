/**
 * Discovery over the NATS service protocol ($SRV, NATS ADR-32) against a real nats-server: the
 * responder answers PING, INFO and STATS for all services, by name and by instance; every reply
 * is checked field by field against ADR-32 and its JSON schemas (io.nats.micro.v1.*_response);
 * stats follow record(); stop() leaves discovery; the official `@nats-io/services` client reads
 * our replies; bad names, versions and refused subscriptions are clear errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Empty, type Msg, type NatsConnection, NoRespondersError } from "@nats-io/nats-core";
import { ServiceResponseType, Svcm } from "@nats-io/services";
import { connect } from "@nats-io/transport-node";
import {
  EndpointMetadata,
  pingServices,
  ServiceMetadata,
  serviceInfos,
  serviceStats,
} from "troupe/discovery";
import { Header, ServiceVerb, serviceVerbSubject } from "troupe/protocol";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { endpointNameOf } from "../../runtime/discovery/endpoint-name.ts";
import {
  type EndpointDescription,
  type ServiceResponder,
  startServiceResponder,
} from "../../runtime/discovery/service-responder.ts";
import {
  createEndpointStats,
  type EndpointStatsRecorder,
} from "../../runtime/observability/endpoint-stats.ts";

const TIMEOUT = { timeout: 30_000 };

// ---------------------------------------------------------------------------------------------
// ADR-32 response validators, written from the spec and the JSON schemas of nats-io/jsm.go
// (schemas/micro/v1/{ping,info,stats}_response.json). Stricter than the schemas where ADR-32 is:
// `metadata` must be an object (the schemas also allow null; ADR-32 says Record<string,string>),
// INFO has `endpoints`, every endpoint has `queue_group` and `metadata`. Unknown fields are
// reported too, so a misspelt field (processingTime) cannot pass.

const NAME = /^[a-zA-Z0-9_-]+$/;
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
// RFC 3339 section 5.6 date-time, in UTC as ADR-32 asks ("ISO Date string … in UTC timezone").
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]00:00)$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkKeys(
  json: Json,
  required: readonly string[],
  optional: readonly string[],
  at: string,
): string[] {
  const problems: string[] = [];
  for (const key of required) if (!(key in json)) problems.push(`${at}: "${key}" is missing`);
  for (const key of Object.keys(json)) {
    if (!required.includes(key) && !optional.includes(key)) problems.push(`${at}: unknown field "${key}"`);
  }
  return problems;
}

function checkString(value: unknown, at: string, pattern?: RegExp, minLength = 0): string[] {
  if (typeof value !== "string") return [`${at} is not a string`];
  if (value.length < minLength) return [`${at} is shorter than ${minLength}`];
  if (pattern !== undefined && !pattern.test(value)) return [`${at} "${value}" does not match ${pattern}`];
  return [];
}

function checkMetadata(value: unknown, at: string): string[] {
  if (!isObject(value)) return [`${at} is not an object`];
  return Object.entries(value)
    .filter(([, v]) => typeof v !== "string")
    .map(([k]) => `${at}.${k} is not a string`);
}

function checkCount(value: unknown, at: string): string[] {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    return [`${at} is not a non-negative integer`];
  }
  return [];
}

const STANDARD = ["type", "name", "id", "version", "metadata"] as const;

function checkStandard(json: Json, type: string): string[] {
  return [
    ...(json.type === type ? [] : [`type is ${JSON.stringify(json.type)}, not ${type}`]),
    ...checkString(json.name, "name", NAME, 1),
    ...checkString(json.id, "id", undefined, 1),
    ...checkString(json.version, "version", SEMVER, 5),
    ...checkMetadata(json.metadata, "metadata"),
  ];
}

function pingProblems(reply: unknown): string[] {
  if (!isObject(reply)) return ["not an object"];
  return [
    ...checkKeys(reply, STANDARD, [], "ping"),
    ...checkStandard(reply, "io.nats.micro.v1.ping_response"),
  ];
}

function infoProblems(reply: unknown): string[] {
  if (!isObject(reply)) return ["not an object"];
  const problems = [
    ...checkKeys(reply, [...STANDARD, "description", "endpoints"], [], "info"),
    ...checkStandard(reply, "io.nats.micro.v1.info_response"),
    ...checkString(reply.description, "description"),
  ];
  if (!Array.isArray(reply.endpoints)) return [...problems, "endpoints is not an array"];
  reply.endpoints.forEach((e: unknown, i) => {
    const at = `endpoints[${i}]`;
    if (!isObject(e)) {
      problems.push(`${at} is not an object`);
      return;
    }
    problems.push(
      ...checkKeys(e, ["name", "subject", "queue_group", "metadata"], [], at),
      ...checkString(e.name, `${at}.name`, NAME, 1),
      ...checkString(e.subject, `${at}.subject`, undefined, 1),
      ...checkString(e.queue_group, `${at}.queue_group`),
      ...checkMetadata(e.metadata, `${at}.metadata`),
    );
  });
  return problems;
}

function statsProblems(reply: unknown): string[] {
  if (!isObject(reply)) return ["not an object"];
  const problems = [
    ...checkKeys(reply, [...STANDARD, "started", "endpoints"], [], "stats"),
    ...checkStandard(reply, "io.nats.micro.v1.stats_response"),
    ...checkString(reply.started, "started", RFC3339_UTC),
  ];
  if (typeof reply.started === "string" && Number.isNaN(Date.parse(reply.started))) {
    problems.push(`started "${reply.started}" is not a date`);
  }
  if (!Array.isArray(reply.endpoints)) return [...problems, "endpoints is not an array"];
  reply.endpoints.forEach((e: unknown, i) => {
    const at = `endpoints[${i}]`;
    if (!isObject(e)) {
      problems.push(`${at} is not an object`);
      return;
    }
    const numbers = ["num_requests", "num_errors", "processing_time", "average_processing_time"];
    problems.push(
      ...checkKeys(e, ["name", "subject", "queue_group", "last_error", ...numbers], ["data"], at),
      ...checkString(e.name, `${at}.name`, NAME, 1),
      ...checkString(e.subject, `${at}.subject`, undefined, 1),
      ...checkString(e.queue_group, `${at}.queue_group`),
      ...checkString(e.last_error, `${at}.last_error`),
      ...numbers.flatMap((key) => checkCount(e[key], `${at}.${key}`)),
    );
    const { num_requests: n, num_errors: errors, processing_time: total, average_processing_time: avg } = e;
    if (typeof n === "number" && typeof errors === "number" && errors > n) {
      problems.push(`${at}: more errors than requests`);
    }
    if (typeof n === "number" && typeof total === "number") {
      const expected = n === 0 ? 0 : Math.trunc(total / n);
      if (avg !== expected) problems.push(`${at}.average_processing_time ${avg} is not ${expected}`);
    }
    if (e.num_errors === 0 && e.last_error !== "") problems.push(`${at}: last_error without errors`);
  });
  return problems;
}

// ---------------------------------------------------------------------------------------------

/** Every raw reply to `subject`, as the NATS tools gather them. */
async function rawReplies(nc: NatsConnection, subject: string): Promise<Msg[]> {
  const replies: Msg[] = [];
  try {
    const iterator = await nc.requestMany(subject, Empty, { strategy: "stall", maxWait: 2000, stall: 300 });
    for await (const msg of iterator) replies.push(msg);
  } catch (err) {
    if (!(err instanceof NoRespondersError)) throw err;
  }
  return replies;
}

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function endpoint(
  name: string,
  subject: string,
  queueGroup: string,
  metadata: Record<string, string> = {},
  stats: EndpointStatsRecorder = createEndpointStats(),
): EndpointDescription {
  return { name, subject, queueGroup, metadata, stats };
}

const sorted = (values: readonly string[]) => [...values].sort();

describe("createEndpointStats", () => {
  test("starts at zero, with no last error and a zero average", () => {
    assert.deepEqual(createEndpointStats().snapshot(), {
      num_requests: 0,
      num_errors: 0,
      last_error: "",
      processing_time: 0,
      average_processing_time: 0,
    });
  });

  test("counts requests and errors and sums whole nanoseconds", () => {
    const stats = createEndpointStats();
    stats.record(1_000);
    stats.record(2_000.9, "boom");
    stats.record(4_500, "second failure");
    stats.record(10);
    assert.deepEqual(stats.snapshot(), {
      num_requests: 4,
      num_errors: 2,
      last_error: "second failure",
      processing_time: 7_510, // 7510.9 truncated
      average_processing_time: 1_877, // 7510 / 4 = 1877.5, truncated
    });
  });

  test("an empty error message still counts as an error", () => {
    const stats = createEndpointStats();
    stats.record(5, "boom");
    stats.record(5, "");
    const { num_errors, last_error } = stats.snapshot();
    assert.equal(num_errors, 2);
    assert.equal(last_error, "");
  });

  test("a negative or NaN duration counts the request but adds no time", () => {
    const stats = createEndpointStats();
    stats.record(300);
    stats.record(-50);
    stats.record(Number.NaN);
    const snapshot = stats.snapshot();
    assert.equal(snapshot.num_requests, 3);
    assert.equal(snapshot.processing_time, 300);
    assert.equal(snapshot.average_processing_time, 100);
  });

  test("reset() goes back to zero", () => {
    const stats = createEndpointStats();
    stats.record(1_000, "boom");
    stats.reset();
    assert.deepEqual(stats.snapshot(), createEndpointStats().snapshot());
    stats.record(40);
    assert.equal(stats.snapshot().average_processing_time, 40);
  });
});

describe("endpointNameOf", () => {
  test("is <Service>-<Method>, a legal ADR-32 endpoint name", () => {
    const name = endpointNameOf("shop.v1.UserService", "GetUser");
    assert.equal(name, "UserService-GetUser");
    assert.match(name, NAME);
    assert.equal(endpointNameOf("Standalone", "Ping_2"), "Standalone-Ping_2");
  });

  test("keeps methods of the same name in different services apart", () => {
    assert.notEqual(
      endpointNameOf("shop.v1.UserService", "Get"),
      endpointNameOf("shop.v1.OrderService", "Get"),
    );
    // An underscore separator would map both of these to User_Service_Get.
    assert.notEqual(endpointNameOf("a.User_Service", "Get"), endpointNameOf("a.User", "Service_Get"));
  });

  test("refuses names that are not proto identifiers", () => {
    assert.throws(() => endpointNameOf("shop.v1.", "Get"), /service type name "shop\.v1\." does not end/);
    assert.throws(() => endpointNameOf("shop.v1.User-Service", "Get"), /does not end in a proto identifier/);
    assert.throws(() => endpointNameOf("shop.v1.UserService", "Get.User"), /method name "Get\.User"/);
    assert.throws(() => endpointNameOf("shop.v1.UserService", ""), /method name ""/);
  });
});

describe("ADR-32 validators", () => {
  const ping = {
    type: "io.nats.micro.v1.ping_response",
    name: "user",
    id: "abc",
    version: "1.0.0",
    metadata: {},
  };
  const info = {
    ...ping,
    type: "io.nats.micro.v1.info_response",
    description: "",
    endpoints: [{ name: "A-B", subject: "rpc.x.A.B", queue_group: "user", metadata: {} }],
  };
  const stats = {
    ...ping,
    type: "io.nats.micro.v1.stats_response",
    started: "2026-11-26T05:09:00.123Z",
    endpoints: [
      {
        name: "A-B",
        subject: "rpc.x.A.B",
        queue_group: "user",
        num_requests: 2,
        num_errors: 1,
        last_error: "boom",
        processing_time: 3001,
        average_processing_time: 1500,
      },
    ],
  };

  test("accept valid replies", () => {
    assert.deepEqual(pingProblems(ping), []);
    assert.deepEqual(infoProblems(info), []);
    assert.deepEqual(statsProblems(stats), []);
  });

  test("catch each kind of violation", () => {
    const bad: [(reply: unknown) => string[], unknown][] = [
      [pingProblems, { ...ping, type: "io.nats.micro.v1.info_response" }],
      [pingProblems, { ...ping, name: "user.v1" }],
      [pingProblems, { ...ping, name: "" }],
      [pingProblems, { ...ping, id: "" }],
      [pingProblems, { ...ping, version: "1.0" }],
      [pingProblems, { ...ping, metadata: null }],
      [pingProblems, { ...ping, metadata: { a: 1 } }],
      [pingProblems, { ...ping, extra: true }],
      [pingProblems, { type: ping.type, name: "user", id: "abc", version: "1.0.0" }],
      [infoProblems, { ...info, description: undefined }],
      [infoProblems, { ...info, endpoints: null }],
      [infoProblems, { ...info, endpoints: [{ name: "A.B", subject: "s", queue_group: "q", metadata: {} }] }],
      [infoProblems, { ...info, endpoints: [{ name: "A", subject: "s", metadata: {} }] }],
      [statsProblems, { ...stats, started: "yesterday" }],
      [statsProblems, { ...stats, started: "2026-11-26T05:09:00+01:00" }],
      [statsProblems, { ...stats, started: "2026-13-45T05:09:00Z" }],
      [statsProblems, { ...stats, endpoints: [{ ...stats.endpoints[0], num_requests: 1.5 }] }],
      [statsProblems, { ...stats, endpoints: [{ ...stats.endpoints[0], processing_time: -1 }] }],
      [statsProblems, { ...stats, endpoints: [{ ...stats.endpoints[0], average_processing_time: 1500.5 }] }],
      [statsProblems, { ...stats, endpoints: [{ ...stats.endpoints[0], average_processing_time: 3001 }] }],
      [statsProblems, { ...stats, endpoints: [{ ...stats.endpoints[0], num_errors: 3 }] }],
      [statsProblems, { ...stats, endpoints: [{ ...stats.endpoints[0], last_error: undefined }] }],
      [statsProblems, { ...stats, endpoints: [{ ...stats.endpoints[0], processingTime: 1 }] }],
    ];
    for (const [problems, reply] of bad) {
      assert.notDeepEqual(problems(JSON.parse(JSON.stringify(reply))), [], JSON.stringify(reply));
    }
  });
});

describe("$SRV responder and discovery client", () => {
  let server: NatsServer;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let client: NatsConnection;
  let userA: ServiceResponder;
  let userB: ServiceResponder;
  let order: ServiceResponder;
  const getUserStats = createEndpointStats();
  const listUsers = endpoint("UserService-ListUsers", "rpc.shop.v1.UserService.ListUsers", "user", {
    [EndpointMetadata.kind]: "server_streaming",
  });
  const getUser = endpoint(
    "UserService-GetUser",
    "rpc.shop.v1.UserService.GetUser",
    "user",
    {
      [EndpointMetadata.kind]: "unary",
      [EndpointMetadata.input]: "shop.v1.GetUserRequest",
      [EndpointMetadata.output]: "shop.v1.User",
      [EndpointMetadata.idempotency]: "no_side_effects",
    },
    getUserStats,
  );
  const userMetadata = {
    [ServiceMetadata.services]: "shop.v1.UserService",
    [ServiceMetadata.runtime]: "test 1.0",
    [ServiceMetadata.host]: "here",
    [ServiceMetadata.version]: "0.1.0",
  };

  before(async () => {
    server = await startNatsServer({ jetstream: false });
    ncA = await connect({ servers: server.url });
    ncB = await connect({ servers: server.url });
    client = await connect({ servers: server.url });
    userA = await startServiceResponder(
      ncA,
      { name: "user", version: "1.4.0", description: "Users", metadata: userMetadata },
      {
        endpoints: () => [getUser, listUsers],
        statsData: (name) => (name === getUser.name ? { latency_ms: [1, 2, 4] } : undefined),
      },
    );
    userB = await startServiceResponder(
      ncB,
      { name: "user", version: "1.4.0", id: "user-b", description: "Users", metadata: userMetadata },
      { endpoints: () => [endpoint(getUser.name, getUser.subject, "user")] },
    );
    // A second service on ncA: several responders can share one connection.
    order = await startServiceResponder(
      ncA,
      { name: "order", version: "2.1.0-rc.1+build.7" },
      {
        endpoints: () => [
          endpoint("OrderService-PlaceOrder", "rpc.shop.v1.OrderService.PlaceOrder", "order"),
        ],
      },
    );
  });

  after(async () => {
    await Promise.all([ncA?.close(), ncB?.close(), client?.close()]);
    await server?.dispose();
  });

  test("instances get a NUID unless given an id", () => {
    assert.match(userA.id, /^[0-9A-Za-z]{22}$/);
    assert.equal(userB.id, "user-b");
    assert.notEqual(userA.id, order.id);
  });

  test("all services, one name, one instance: for PING, INFO and STATS", TIMEOUT, async () => {
    const verbs = { PING: pingServices, INFO: serviceInfos, STATS: serviceStats };
    for (const [verb, discover] of Object.entries(verbs)) {
      const everyone = await discover(client);
      assert.deepEqual(sorted(everyone.map((r) => r.id)), sorted([userA.id, userB.id, order.id]), verb);
      assert.deepEqual(sorted(everyone.map((r) => r.name)), ["order", "user", "user"], verb);

      const users = await discover(client, { name: "user" });
      assert.deepEqual(sorted(users.map((r) => r.id)), sorted([userA.id, userB.id]), verb);

      const one = await discover(client, { name: "user", id: userB.id });
      assert.deepEqual(
        one.map((r) => r.id),
        [userB.id],
        verb,
      );
      assert.deepEqual(await discover(client, { name: "nobody" }), [], verb);
      assert.deepEqual(await discover(client, { name: "user", id: "gone" }), [], verb);
    }
  });

  test("a name without instances is [] at once, not a wait or an error", TIMEOUT, async () => {
    // The server's no-responders status ends the request: with a 60 s wait for the first reply,
    // anything else would run into the test's timeout.
    for (const discover of [pingServices, serviceInfos, serviceStats]) {
      assert.deepEqual(await discover(client, { name: "nobody", timeoutMs: 60_000 }), []);
    }
  });

  test("an id needs a name", async () => {
    await assert.rejects(pingServices(client, { id: userA.id }), /needs the service name/);
  });

  test("every raw reply follows ADR-32, field by field", TIMEOUT, async () => {
    const check = { PING: pingProblems, INFO: infoProblems, STATS: statsProblems };
    for (const verb of [ServiceVerb.PING, ServiceVerb.INFO, ServiceVerb.STATS]) {
      const scopes: [string, number][] = [
        [serviceVerbSubject(verb), 3],
        [serviceVerbSubject(verb, "user"), 2],
        [serviceVerbSubject(verb, "user", userA.id), 1],
        [serviceVerbSubject(verb, "order", order.id), 1],
      ];
      for (const [subject, count] of scopes) {
        const replies = await rawReplies(client, subject);
        assert.equal(replies.length, count, subject);
        for (const reply of replies) {
          assert.equal(reply.headers, undefined, `${subject}: no error headers`);
          assert.deepEqual(check[verb](reply.json()), [], `${subject}: ${reply.string()}`);
        }
      }
    }
  });

  test("PING carries the identity and the metadata", TIMEOUT, async () => {
    const [a] = await pingServices(client, { name: "user", id: userA.id });
    assert.deepEqual(a, {
      type: ServiceResponseType.PING,
      name: "user",
      id: userA.id,
      version: "1.4.0",
      metadata: userMetadata,
    });
    const [o] = await pingServices(client, { name: "order" });
    assert.equal(o?.version, "2.1.0-rc.1+build.7");
    assert.deepEqual(o?.metadata, {}, "no metadata is an empty object");
    assert.deepEqual(userA.ping(), a);
  });

  test("INFO describes every endpoint: subject, queue group, metadata", TIMEOUT, async () => {
    const [a] = await serviceInfos(client, { name: "user", id: userA.id });
    assert.deepEqual(a, {
      type: ServiceResponseType.INFO,
      name: "user",
      id: userA.id,
      version: "1.4.0",
      metadata: userMetadata,
      description: "Users",
      endpoints: [
        {
          name: "UserService-GetUser",
          subject: "rpc.shop.v1.UserService.GetUser",
          queue_group: "user",
          metadata: getUser.metadata,
        },
        {
          name: "UserService-ListUsers",
          subject: "rpc.shop.v1.UserService.ListUsers",
          queue_group: "user",
          metadata: { [EndpointMetadata.kind]: "server_streaming" },
        },
      ],
    });
    assert.deepEqual(userA.info(), a);
    const [o] = await serviceInfos(client, { name: "order" });
    assert.equal(o?.description, "");
  });

  test("STATS follows record(): counts, last error, nanoseconds, average, data", TIMEOUT, async () => {
    getUserStats.reset();
    getUserStats.record(1_000);
    getUserStats.record(2_000.9, "boom");
    getUserStats.record(4_500, "second failure");
    const [a] = await serviceStats(client, { name: "user", id: userA.id });
    assert.ok(a);
    assert.equal(a.type, ServiceResponseType.STATS);
    assert.equal(a.started, userA.started);
    assert.ok(Date.parse(a.started) <= Date.now());
    assert.deepEqual(a.endpoints, [
      {
        name: "UserService-GetUser",
        subject: "rpc.shop.v1.UserService.GetUser",
        queue_group: "user",
        num_requests: 3,
        num_errors: 2,
        last_error: "second failure",
        processing_time: 7_500,
        average_processing_time: 2_500,
        data: { latency_ms: [1, 2, 4] },
      },
      {
        name: "UserService-ListUsers",
        subject: "rpc.shop.v1.UserService.ListUsers",
        queue_group: "user",
        num_requests: 0,
        num_errors: 0,
        last_error: "",
        processing_time: 0,
        average_processing_time: 0,
      },
    ]);
    // Each instance counts its own requests.
    const [b] = await serviceStats(client, { name: "user", id: userB.id });
    assert.equal(b?.endpoints[0]?.num_requests, 0);

    userA.reset();
    const [reset] = await serviceStats(client, { name: "user", id: userA.id });
    assert.equal(reset?.endpoints[0]?.num_requests, 0);
    assert.equal(reset?.endpoints[0]?.num_errors, 0);
    assert.equal(reset?.endpoints[0]?.last_error, "");
    assert.equal(reset?.endpoints[0]?.processing_time, 0);
  });

  test("INFO and STATS report endpoints added after start", TIMEOUT, async () => {
    const endpoints = [endpoint("A-First", "rpc.a.A.First", "late")];
    const late = await startServiceResponder(
      client,
      { name: "late", version: "0.0.1" },
      { endpoints: () => endpoints },
    );
    try {
      endpoints.push(endpoint("A-Second", "rpc.a.A.Second", "late"));
      const [info] = await serviceInfos(client, { name: "late" });
      assert.deepEqual(
        info?.endpoints.map((e) => e.name),
        ["A-First", "A-Second"],
      );
      const [stats] = await serviceStats(client, { name: "late" });
      assert.deepEqual(
        stats?.endpoints.map((e) => e.name),
        ["A-First", "A-Second"],
      );
    } finally {
      await late.stop();
    }
  });

  test("the official @nats-io/services client reads our replies", TIMEOUT, async () => {
    const official = new Svcm(client).client();
    const pings = await all(await official.ping("user"));
    assert.deepEqual(sorted(pings.map((p) => p.id)), sorted([userA.id, userB.id]));
    for (const p of pings) assert.equal(p.type, ServiceResponseType.PING);

    const everyone = await all(await official.ping());
    assert.equal(everyone.length, 3);

    const infos = await all(await official.info("user", userA.id));
    assert.equal(infos.length, 1);
    assert.equal(infos[0]?.type, ServiceResponseType.INFO);
    assert.deepEqual(
      infos[0]?.endpoints.map((e) => [e.name, e.subject, e.queue_group]),
      [
        ["UserService-GetUser", "rpc.shop.v1.UserService.GetUser", "user"],
        ["UserService-ListUsers", "rpc.shop.v1.UserService.ListUsers", "user"],
      ],
    );

    getUserStats.record(3_000, "official");
    const stats = await all(await official.stats("user", userA.id));
    assert.equal(stats.length, 1);
    const getUserEntry = stats[0]?.endpoints?.find((e) => e.name === "UserService-GetUser");
    assert.equal(getUserEntry?.num_requests, 1);
    assert.equal(getUserEntry?.num_errors, 1);
    assert.equal(getUserEntry?.last_error, "official");
    assert.equal(getUserEntry?.processing_time, 3_000);
    assert.equal(stats[0]?.started, userA.started);
  });

  test("stop() takes an instance out of discovery", TIMEOUT, async () => {
    const extra = await startServiceResponder(
      client,
      { name: "user", version: "1.4.0" },
      { endpoints: () => [] },
    );
    assert.equal((await pingServices(client, { name: "user" })).length, 3);
    await extra.stop();
    assert.equal(await extra.stopped, null);
    await extra.stop(); // idempotent
    const users = await pingServices(client, { name: "user" });
    assert.deepEqual(sorted(users.map((u) => u.id)), sorted([userA.id, userB.id]));
    assert.deepEqual(await serviceStats(client, { name: "user", id: extra.id }), []);
    assert.equal((await all(await new Svcm(client).client().info("user"))).length, 2);
  });

  test("a closed connection ends the responder", TIMEOUT, async () => {
    const nc = await connect({ servers: server.url });
    const responder = await startServiceResponder(
      nc,
      { name: "short", version: "1.0.0" },
      { endpoints: () => [] },
    );
    assert.equal((await pingServices(client, { name: "short" })).length, 1);
    await nc.close();
    assert.equal(await responder.stopped, null);
    await responder.stop(); // nothing left to do, and no error
  });

  test("a failing statsData hook is answered with ADR-32 error headers", TIMEOUT, async () => {
    const broken = await startServiceResponder(
      client,
      { name: "broken", version: "1.0.0" },
      {
        endpoints: () => [endpoint("A-B", "rpc.a.A.B", "broken")],
        statsData: () => {
          throw new Error("no histogram\nhere");
        },
      },
    );
    try {
      const [reply] = await rawReplies(client, serviceVerbSubject(ServiceVerb.STATS, "broken"));
      assert.equal(reply?.headers?.get(Header.serviceErrorCode), "500");
      assert.equal(reply?.headers?.get(Header.serviceError), "no histogram here");
      const reasons: string[] = [];
      const stats = await serviceStats(client, {
        name: "broken",
        onMalformed: (reason) => reasons.push(reason),
      });
      assert.deepEqual(stats, []);
      assert.deepEqual(reasons, ["error 500: no histogram here"]);
      // PING and INFO do not call the hook.
      assert.equal((await serviceInfos(client, { name: "broken" })).length, 1);
    } finally {
      await broken.stop();
    }
  });

  test("replies of other implementations are normalised or left out", TIMEOUT, async () => {
    // A service that follows only the JSON schema: metadata null, no queue_group, no last_error.
    const foreign = client.subscribe(serviceVerbSubject(ServiceVerb.STATS, "foreign"), {
      callback: (_err, msg) => {
        msg.respond(
          JSON.stringify({
            type: "io.nats.micro.v1.stats_response",
            name: "foreign",
            id: "f1",
            version: "1.0.0",
            metadata: null,
            started: "2026-11-26T05:09:00Z",
            endpoints: [
              {
                name: "e",
                subject: "s",
                num_requests: 1,
                num_errors: 0,
                processing_time: 5,
                average_processing_time: 5,
              },
            ],
          }),
        );
      },
    });
    const garbage = client.subscribe(serviceVerbSubject(ServiceVerb.STATS, "foreign"), {
      callback: (_err, msg) => {
        msg.respond("not json");
      },
    });
    const wrongType = client.subscribe(serviceVerbSubject(ServiceVerb.STATS, "foreign"), {
      callback: (_err, msg) => {
        msg.respond(JSON.stringify({ type: "io.nats.micro.v1.ping_response", name: "x", id: "y" }));
      },
    });
    try {
      const reasons: string[] = [];
      const stats = await serviceStats(client, {
        name: "foreign",
        onMalformed: (reason) => reasons.push(reason),
      });
      assert.equal(stats.length, 1);
      assert.deepEqual(stats[0]?.metadata, {});
      assert.equal(stats[0]?.endpoints[0]?.queue_group, "");
      assert.equal(stats[0]?.endpoints[0]?.last_error, "");
      assert.equal(stats[0]?.endpoints[0]?.processing_time, 5);
      assert.equal(reasons.length, 2);
      assert.ok(
        reasons.some((r) => r.startsWith("not JSON")),
        reasons.join("; "),
      );
      assert.ok(
        reasons.includes('type is "io.nats.micro.v1.ping_response", not "io.nats.micro.v1.stats_response"'),
      );
    } finally {
      foreign.unsubscribe();
      garbage.unsubscribe();
      wrongType.unsubscribe();
    }
  });

  test("invalid names, versions, ids, metadata and endpoints are refused clearly", TIMEOUT, async () => {
    const none = { endpoints: () => [] };
    for (const name of ["user service", "user.v1", "", "user*", "user>", "üser", "user/1"]) {
      await assert.rejects(
        startServiceResponder(client, { name, version: "1.0.0" }, none),
        new RegExp(`service name "${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}" is not valid`),
        name,
      );
    }
    for (const version of ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0+", "", "latest", "1.0.0-01"]) {
      await assert.rejects(
        startServiceResponder(client, { name: "user", version }, none),
        (err: Error) =>
          err.message.startsWith(`version "${version}" of service "user" is not a semantic version`),
        version,
      );
    }
    await assert.rejects(
      startServiceResponder(client, { name: "user", version: "1.0.0", id: "a.b" }, none),
      /service id "a\.b" cannot be a NATS subject token/,
    );
    await assert.rejects(
      startServiceResponder(
        client,
        { name: "user", version: "1.0.0", metadata: { n: 1 as unknown as string } },
        none,
      ),
      /metadata "n" of service "user" must be a string, not number/,
    );
    await assert.rejects(
      startServiceResponder(
        client,
        { name: "user", version: "1.0.0" },
        { endpoints: () => [endpoint("UserService.GetUser", "rpc.x", "user")] },
      ),
      /endpoint name "UserService\.GetUser" of service "user" is not valid/,
    );
    // Nothing stayed subscribed.
    assert.equal((await pingServices(client)).length, 3);
  });
});

describe("$SRV responder on a server that refuses a subscription", () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer({
      jetstream: false,
      config: `
authorization {
  users = [
    { user: "limited", password: "limited", permissions: { subscribe: { allow: [">"], deny: ["$SRV.INFO.>"] } } }
    { user: "admin", password: "admin" }
  ]
}
`,
    });
  });
  after(async () => {
    await server?.dispose();
  });

  test("start rejects, names the subject, and leaves nothing subscribed", TIMEOUT, async () => {
    const limited = await connect({ servers: server.url, user: "limited", pass: "limited" });
    const admin = await connect({ servers: server.url, user: "admin", pass: "admin" });
    try {
      await assert.rejects(
        startServiceResponder(limited, { name: "user", version: "1.0.0" }, { endpoints: () => [] }),
        /service "user" \(\S+\) cannot answer discovery on \$SRV\.INFO\.user: .*Permissions Violation/i,
      );
      assert.deepEqual(await pingServices(admin), []);
      // The connection itself stays usable.
      assert.equal(limited.isClosed(), false);
      const ok = await startServiceResponder(
        admin,
        { name: "user", version: "1.0.0" },
        { endpoints: () => [] },
      );
      assert.equal((await pingServices(limited)).length, 1);
      await ok.stop();
    } finally {
      await Promise.all([limited.close(), admin.close()]);
    }
  });
});
