/**
 * The host refuses requests that break their contract's buf.validate rules before the handler
 * runs (docs/adr/0018-request-validation.md), against a real nats-server: a valid request passes;
 * each kind of rule (required, length, range, format, repeated size, nested path, a CEL rule
 * across fields) is `invalid_argument` naming the field and the rule, with the violations as a
 * buf.validate.Violations detail; a streamed message that breaks the rules ends its call; a
 * method without rules gets no check at all; and `validateRequests: false` turns it off.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  create,
  createFileRegistry,
  type DescMessage,
  hasOption,
  type MessageInitShape,
  setExtension,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, MessageOptionsSchema } from "@bufbuild/protobuf/wkt";
import {
  field as fieldRules,
  MessageRulesSchema,
  message as messageRules,
  oneof as oneofRules,
  ViolationsSchema,
} from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { createNatsTransport, implement, silentLogger } from "troupe";
import { serveServices } from "troupe/host";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { CartService } from "../../proto/gen/shop/v1/cart_pb.ts";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { OrderService } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentService } from "../../proto/gen/shop/v1/payment_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import {
  PingRequestSchema,
  RepeatRequestSchema,
  type SignupManyRequestSchema,
  type SignupRequest,
  SignupRequestSchema,
  SignupService,
} from "../../proto/gen/troupe/testing/v1/signup_pb.ts";
import { requestChecksOf } from "../../runtime/host/request-validator.ts";

const TIMEOUT = { timeout: 30_000 };

type Signup = MessageInitShape<typeof SignupRequestSchema>;

const VALID = {
  name: "Ada",
  email: "ada@example.com",
  age: 36,
  items: [{ sku: "ABC-1", quantity: 1 }],
  address: { countryCode: "GB" },
  password: "secret",
  confirm: "secret",
} satisfies Signup;

async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("the call succeeded");
}

async function* streamOf<T>(...items: T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

describe("request validation", () => {
  let server: NatsServer;
  let serverNc: NatsConnection;
  let clientNc: NatsConnection;
  let client: Client<typeof SignupService>;
  let unchecked: Client<typeof SignupService>;
  /** Names of the signups the handlers were given, per host. */
  const seen = { checked: [] as string[], unchecked: [] as string[] };

  const signupService = (host: keyof typeof seen) =>
    implement(SignupService, {
      signup(request) {
        seen[host].push(request.name);
        return { name: request.name };
      },
      async *signupMany(requests) {
        for await (const { signup } of requests) {
          seen[host].push(signup?.name ?? "");
          yield { name: signup?.name ?? "" };
        }
      },
      async *repeat({ signup, count }) {
        for (let i = 0; i < count; i++) yield { name: signup?.name ?? "" };
      },
      ping: ({ text }) => ({ text }),
    });

  before(async () => {
    server = await startNatsServer();
    serverNc = await connect({ servers: server.url });
    clientNc = await connect({ servers: server.url });
    await serveServices(serverNc, [signupService("checked")], { name: "signup", logger: silentLogger });
    await serveServices(serverNc, [signupService("unchecked")], {
      name: "signup",
      namespace: "off",
      validateRequests: false,
      logger: silentLogger,
    });
    client = createClient(SignupService, createNatsTransport({ nc: clientNc }));
    unchecked = createClient(SignupService, createNatsTransport({ nc: clientNc, namespace: "off" }));
  });

  after(async () => {
    await clientNc?.close();
    await serverNc?.close();
    await server?.stop();
  });

  test("a valid request reaches the handler", TIMEOUT, async () => {
    assert.equal((await client.signup(VALID)).name, "Ada");
    assert.deepEqual(seen.checked, ["Ada"]);
  });

  test("each kind of rule refuses with invalid_argument naming the field and the rule", TIMEOUT, async () => {
    const cases: [string, Signup, string, RegExp][] = [
      ["required", { ...VALID, address: undefined }, "address", /^address: value is required \[required\]$/],
      ["min length", { ...VALID, name: "" }, "name", /^name: .*at least 1 characters \[string\.min_len\]$/],
      [
        "max length",
        { ...VALID, name: "x".repeat(21) },
        "name",
        /^name: .*at most 20 .*\[string\.max_len\]$/,
      ],
      ["range", { ...VALID, age: 17 }, "age", /^age: .*greater than or equal to 18 .*\[int32\.gte_lte\]$/],
      ["format", { ...VALID, email: "ada" }, "email", /^email: .*valid email address \[string\.email\]$/],
      [
        "nested format",
        { ...VALID, address: { countryCode: "Britain" } },
        "address.country_code",
        /^address\.country_code: .*\[string\.pattern\]$/,
      ],
      [
        "repeated size",
        { ...VALID, items: [] },
        "items",
        /^items: .*at least 1 item.*\[repeated\.min_items\]$/,
      ],
      [
        "an item's field",
        {
          ...VALID,
          items: [
            { sku: "ABC-1", quantity: 1 },
            { sku: "ABC-2", quantity: 0 },
          ],
        },
        "items[1].quantity",
        /^items\[1\]\.quantity: must be greater than 0 \[int32\.gt\]$/,
      ],
    ];
    for (const [kind, request, path, message] of cases) {
      const error = await errorOf(client.signup(request));
      assert.equal(error.code, Code.InvalidArgument, kind);
      assert.match(error.rawMessage, message, kind);
      const [detail] = error.findDetails(ViolationsSchema);
      assert.equal(detail?.violations.length, 1, `${kind}: one violation in the detail`);
      const elements = detail?.violations[0]?.field?.elements ?? [];
      const named = elements.map((e) =>
        e.subscript.case === "index" ? `${e.fieldName}[${e.subscript.value}]` : e.fieldName,
      );
      assert.equal(named.join("."), path, `${kind}: the detail's field path`);
    }
    assert.deepEqual(seen.checked, ["Ada"], "no invalid request reached the handler");
  });

  test("a rule across fields and several violations at once", TIMEOUT, async () => {
    const crossField = await errorOf(client.signup({ ...VALID, confirm: "other" }));
    assert.equal(crossField.code, Code.InvalidArgument);
    assert.equal(crossField.rawMessage, "confirm must repeat password [signup.password_confirmed]");

    const several = await errorOf(client.signup({ ...VALID, name: "", age: 200 }));
    assert.match(several.rawMessage, /^name: .*\[string\.min_len\]; age: .*\[int32\.gte_lte\]$/);
    assert.equal(several.findDetails(ViolationsSchema)[0]?.violations.length, 2);
  });

  test("a JSON request from a plain NATS client is checked too", TIMEOUT, async () => {
    const reply = await clientNc.request(
      "rpc.troupe.testing.v1.SignupService.Signup",
      JSON.stringify({ ...VALID, age: 3 }),
    );
    assert.equal(reply.headers?.get("Nats-Service-Error-Code"), "400");
    const body = reply.json<{ code: string; message: string }>();
    assert.equal(body.code, "invalid_argument");
    assert.match(body.message, /^age: /);
  });

  test("each streamed message is checked; one that breaks the rules ends the call", TIMEOUT, async () => {
    const one = (signup: Signup): MessageInitShape<typeof SignupManyRequestSchema> => ({
      signup: create(SignupRequestSchema, signup),
    });
    const answers: string[] = [];
    // The invalid message goes once the first answer arrived: the error ends the call at once.
    let answered = () => {};
    const firstAnswer = new Promise<void>((resolve) => {
      answered = resolve;
    });
    async function* requests() {
      yield one({ ...VALID, name: "Grace" });
      await firstAnswer;
      yield one({ ...VALID, items: [{ sku: "nope", quantity: 1 }] });
    }
    const error = await (async () => {
      try {
        for await (const answer of client.signupMany(requests())) {
          answers.push(answer.name);
          answered();
        }
      } catch (err) {
        return ConnectError.from(err);
      }
      return undefined;
    })();
    assert.equal(error?.code, Code.InvalidArgument);
    assert.match(error?.rawMessage ?? "", /^signup\.items\[0\]\.sku: .*\[string\.pattern\]$/);
    assert.deepEqual(answers, ["Grace"], "the valid message before it was answered");
    assert.ok(!seen.checked.includes(""), "the handler never saw the invalid one");

    const missing = await errorOf(
      (async () => {
        for await (const _ of client.signupMany(streamOf({}))) {
          // nothing arrives
        }
      })(),
    );
    assert.match(missing.rawMessage, /^signup: value is required/);
  });

  test(
    "a server-streaming request is checked, rules nested in a message without its own",
    TIMEOUT,
    async () => {
      const refused = await errorOf(
        (async () => {
          for await (const _ of client.repeat({ signup: { ...VALID, age: 1 }, count: 2 })) {
            // nothing arrives
          }
        })(),
      );
      assert.equal(refused.code, Code.InvalidArgument);
      assert.match(refused.rawMessage, /^signup\.age: /);
      const names: string[] = [];
      for await (const { name } of client.repeat({ signup: VALID, count: 2 })) names.push(name);
      assert.deepEqual(names, ["Ada", "Ada"]);
    },
  );

  test("a method whose input has no rules gets no check", TIMEOUT, async () => {
    const checks = await requestChecksOf([PingRequestSchema, RepeatRequestSchema, PingRequestSchema]);
    assert.equal(checks.get(PingRequestSchema), undefined, "decided once, at serve time");
    assert.equal(typeof checks.get(RepeatRequestSchema), "function", "nested rules count");
    assert.equal((await requestChecksOf([PingRequestSchema])).size, 0, "no rules, no validator");
    assert.equal((await client.ping({})).text, "", "an empty request is fine where nothing is required");
  });

  test("rules are found without protovalidate's descriptors exactly where hasOption finds them", async () => {
    // What the host read with protobuf-es's hasOption and buf.validate's extensions, before it
    // learned to read the option's field number and load protovalidate only when needed.
    const declares = (schema: DescMessage, seen: Set<DescMessage>): boolean => {
      if (seen.has(schema)) return false;
      seen.add(schema);
      if (hasOption(schema, messageRules) || schema.oneofs.some((o) => hasOption(o, oneofRules))) return true;
      return schema.fields.some(
        (f) => hasOption(f, fieldRules) || (f.message !== undefined && declares(f.message, seen)),
      );
    };
    const services = [
      SignupService,
      CartService,
      InventoryService,
      OrderService,
      PaymentService,
      ProductService,
      UserService,
    ];
    const inputs = [...new Set(services.flatMap((s) => s.methods.map((m) => m.input)))];
    const checks = await requestChecksOf(inputs);
    const expected = inputs.filter((input) => declares(input, new Set())).map((i) => i.typeName);
    assert.ok(expected.length >= 10, `the shop's contracts have rules (${expected.length} inputs)`);
    assert.ok(expected.length < inputs.length, "and inputs without rules");
    assert.deepEqual([...checks.keys()].map((i) => i.typeName).sort(), expected.sort());
  });

  test("validateRequests: false hands every request to the handler", TIMEOUT, async () => {
    const invalid: SignupRequest = create(SignupRequestSchema, { ...VALID, name: "", age: 1 });
    assert.equal((await unchecked.signup(invalid)).name, "");
    assert.deepEqual(seen.unchecked, [""]);
  });

  test("a rule that does not compile fails the host's start, not a call", async () => {
    const options = create(MessageOptionsSchema);
    const rules = create(MessageRulesSchema, { cel: [{ id: "broken", expression: "this.nope +" }] });
    setExtension(options, messageRules, rules);
    const registry = createFileRegistry(
      create(FileDescriptorProtoSchema, {
        name: "broken.proto",
        package: "broken",
        syntax: "proto3",
        messageType: [{ name: "Broken", options }],
      }),
      () => undefined,
    );
    const broken = registry.getMessage("broken.Broken");
    assert.ok(broken !== undefined);
    await assert.rejects(requestChecksOf([broken]), /broken\.Broken do not compile/);
  });
});
